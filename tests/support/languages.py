"""Finding English left on a page that should be in German, French or Spanish.

A catalogue test only sees strings that were marked for translation; a string nobody marked never
reaches a catalogue. This looks at what the reader sees instead: every visible text and every
attribute a screen reader speaks, searched for short English words that none of the three other
languages uses as a word of its own ("the", "your", "with", ...). Test data must avoid them.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from django.test import Client

from accounts.models import User

# Words that are English and are not words of German, French or Spanish ("will", "was", "an",
# "on", "has", "in" are, so they are not listed).
ENGLISH_WORDS = (
    "the", "and", "with", "your", "you", "this", "that", "of", "to", "for", "not", "are",
    "is", "been", "from", "have", "there", "which", "here", "when", "yet", "only", "any",
)
_ENGLISH = re.compile(r"\b(" + "|".join(ENGLISH_WORDS) + r")\b", re.IGNORECASE)
_SPOKEN_ATTRIBUTES = {"aria-label", "title", "placeholder", "alt", "aria-description"}
# A textarea holds data (an endpoint's system prompt is written for the model), not page words.
_HIDDEN_ELEMENTS = {"script", "style", "template", "code", "pre", "textarea"}


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_ELEMENTS:
            self._hidden_depth += 1
        for name, value in attrs:
            if value and (name in _SPOKEN_ATTRIBUTES
                          or (tag == "input" and name == "value"
                              and ("type", "submit") in attrs)):
                self.pieces.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_ELEMENTS and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth and data.strip():
            self.pieces.append(" ".join(data.split()))


def english_leftovers(html: str) -> list[str]:
    """The visible or spoken texts of ``html`` that contain an English-only word."""
    parser = _VisibleText()
    parser.feed(html)
    return [piece for piece in parser.pieces if _ENGLISH.search(piece)]


# The languages the catalogues translate, and a patient's words in each (test data written in
# the reader's language, so that it never counts as English left over).
TRANSLATED = ("de", "fr", "es")
QUESTIONS = {
    "de": "Was sehen Sie auf diesen Bildern?",
    "fr": "Que voyez-vous sur ces images ?",
    "es": "¿Qué ve en estas imágenes?",
}
ANSWERS = {
    "de": "Keine Auffälligkeiten.",
    "fr": "Rien d'anormal.",
    "es": "Nada fuera de lo normal.",
}


def signed_in_reading(user: User, language: str) -> Client:
    """A client signed in as ``user``, whose account reads ``language``."""
    user.language = language
    user.save(update_fields=["language"])
    client = Client()
    client.force_login(user)
    return client
