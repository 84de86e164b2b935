"""The allow-vocabulary: clinical annotations pass, anything that could identify someone does
not, however numeric it looks."""

import pytest

from scans.deid.annotations import ALLOWED_WORDS, is_annotation


@pytest.mark.parametrize("text", [
    "3.3 cm", "Asc Ao Diam 3.3 cm", "MI 1.2", "TIS0.4 MI 1.4", "75 Hz", "R", "L", "AP",
    "LAT", "LYMPH NODE", "Gain 45", "Depth 16 cm", "HR 72 bpm", "120 kV", "250 mAs", "C5-1",
    "L12-5", "-45dB", "100%", "FR 30Hz", "W 400 L 40", "PA ERECT", "RT KIDNEY LONG",
    "---|---", "LYMPH N0DE", "RT KIDNEV LONG", "5 µm", "TIS:0.4 MI:0.8 PD:100%",
    "S5-1 * Asc Ao Diam 3.3 cm", "HPen", "P Low", "Asc Ao Index",
])
def test_clinical_annotations_pass(text):
    assert is_annotation(text)


@pytest.mark.parametrize("text", [
    "12/03/1961", "1961-03-12", "03-DEC-1961", "Dec 3, 1961", "12.03.61", "14:22:05", "14:22",
    "12/03", "ID 889123", "889123", "1961", "MRN 4471902", "DOE^JOHN", "JOHN", "SMITH, ANNA",
    "ST MARY HOSP", "Dr. Patel", "Springfield", "3.3 cm DOE", "AB12", "Acc 77120", "",
    "Frame 12/40", "DOE+JOHN", "ID:889123", "Gain 1961",
])
def test_names_ids_dates_times_and_places_do_not_pass(text):
    assert not is_annotation(text)


def test_every_allowed_word_says_why_it_is_allowed():
    assert all(reason.strip() for reason in ALLOWED_WORDS.values())
    assert all(word == word.casefold() for word in ALLOWED_WORDS)
