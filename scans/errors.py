"""The one base class for refusals that a person reads: a sentence they can act on and a status.

Services raise a subclass (an upload refused, a consent step refused, an account that cannot be
erased now ...); pages turn it into a page or a message through ``scans.refusals`` and the API
into ``{"detail": ...}`` through the handler in ``gateway.api``. Nothing else translates them.
A plain library (no Django), so the intake checks can raise it too: a plain module marks its
sentences with ``gettext_noop`` (``makemessages`` collects them) and passes the values to fill in
separately, and the page or the API translates the sentence in the reader's language
(``UserFacingError.words``). A module with Django may raise an already translated sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def gettext_noop(message: str) -> str:
    """Marks ``message`` for the catalogues; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Phrase:
    """Words inside a refusal's sentence that are translated with it ("File 3")."""

    text: str
    values: Mapping[str, object] = field(default_factory=dict)

    def words(self, translate: Callable[[str], str] = str) -> str:
        """The phrase with its values filled in, ``translate`` applied to every text."""
        text = translate(self.text)
        if not self.values:
            return text
        return text % {
            name: value.words(translate) if isinstance(value, Phrase) else value
            for name, value in self.values.items()
        }


class UserFacingError(Exception):
    """A refusal. ``message`` is written for the person who asked (it never quotes their files
    or data); ``status`` is the HTTP status that fits; ``code`` names the kind of refusal for
    programs (the API's error body carries it, stable across languages and wordings).
    ``values`` fill the ``%(name)s`` placeholders of ``message`` (a value may be a ``Phrase``);
    ``message`` itself is the English sentence with them filled in, ``words(gettext)`` the
    reader's."""

    status: int = 400
    code: str = "refused"

    def __init__(
        self,
        message: str,
        status: int | None = None,
        values: Mapping[str, object] | None = None,
        *,
        code: str | None = None,
    ) -> None:
        self.phrase = Phrase(message, dict(values or {}))
        self.message = self.phrase.words()
        super().__init__(self.message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def words(self, translate: Callable[[str], str]) -> str:
        """The message in the reader's language (``translate`` is ``gettext``)."""
        return self.phrase.words(translate)

    def as_json(self, translate: Callable[[str], str] = str) -> dict[str, Any]:
        """The API's error body: the kind of refusal for programs, the sentence for people."""
        return {"code": self.code, "detail": self.words(translate)}
