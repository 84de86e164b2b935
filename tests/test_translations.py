"""German, French and Spanish are complete: every message of every catalogue is translated, none
is fuzzy, the compiled catalogues match their sources, and the placeholders survive translation."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client

LOCALE = Path(settings.BASE_DIR) / "locale"
TRANSLATED = ["de", "fr", "es"]
DOMAINS = ["django", "djangojs"]
PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|%d|\{\w*\}")


def catalogues() -> list[Path]:
    return [
        LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
        for language in TRANSLATED
        for domain in DOMAINS
        if (LOCALE / language / "LC_MESSAGES" / f"{domain}.po").exists()
    ]


def test_each_language_has_its_page_catalogue():
    for language in TRANSLATED:
        assert (LOCALE / language / "LC_MESSAGES" / "django.po").exists(), language


@pytest.mark.parametrize("path", catalogues(), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_every_message_is_translated_and_none_is_fuzzy(path: Path):
    catalogue = polib.pofile(str(path))
    untranslated = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]
    assert untranslated == [], f"untranslated in {path}"
    assert fuzzy == [], f"fuzzy in {path}"
    assert not catalogue.metadata_is_fuzzy


@pytest.mark.parametrize("path", catalogues(), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_the_placeholders_of_every_message_survive_translation(path: Path):
    for entry in polib.pofile(str(path)).translated_entries():
        expected = set(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            # A singular may spell out its count ("this image"), so only the plural must keep all.
            found = set(PLACEHOLDER.findall(text))
            assert found <= expected | set(PLACEHOLDER.findall(entry.msgid)), (entry.msgid, text)
        if not entry.msgid_plural:
            assert set(PLACEHOLDER.findall(entry.msgstr)) == expected, (entry.msgid, entry.msgstr)


@pytest.mark.parametrize("path", catalogues(), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_the_compiled_catalogue_is_up_to_date(path: Path):
    compiled = path.with_suffix(".mo")
    assert compiled.exists(), f"run: manage.py compilemessages ({compiled})"
    source = {(e.msgid, e.msgstr) for e in polib.pofile(str(path)).translated_entries()}
    built = {(e.msgid, e.msgstr) for e in polib.mofile(str(compiled)) if e.msgid}
    assert source <= built, f"run: manage.py compilemessages ({compiled})"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "words"),
    [("de", "Eine Untersuchung hochladen"), ("fr", "Téléverser un examen"),
     ("es", "Subir un estudio")],
)
def test_the_patient_s_pages_are_in_their_language(patient, language, words):
    patient.language = language
    patient.save(update_fields=["language"])
    client = Client()
    client.force_login(patient)

    page = client.get("/scans/").content.decode()

    assert words in page
    assert "Upload a study" not in page


@pytest.mark.django_db
def test_the_scripts_get_their_words_from_the_gateway_itself(client):
    page = client.get("/accounts/login/", headers={"accept-language": "de"}).content.decode()
    assert '<script src="/jsi18n/"></script>' in page

    catalogue = client.get("/jsi18n/", headers={"accept-language": "de"})

    assert catalogue.status_code == 200
    assert "javascript" in catalogue["Content-Type"]
    assert "Dateien werden gepr" in catalogue.content.decode("utf-8")
