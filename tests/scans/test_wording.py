"""The engine's findings shown in words: its codes and English sentences stay as data, the page
shows one sentence per kind of finding in the reader's language, and never the engine's English
in place of a translation."""

from __future__ import annotations

import pytest
from django.utils import translation

from scans import wording
from scans.deid import burned_in, non_images
from tests.support.languages import english_leftovers

# Reasons as the verifier and the engine write them (scans.deid.verify, pixels, photos).
ENGINE_REASONS = [
    "identifying value from PatientName found in the output (UTF-8)",
    "a redacted region on frame 2 is not blacked out",
    "text on frame 1 resembles a patient identifier",
    "the cleaned JPEG has an APP1 metadata segment",
    "private attribute (0009,0010) survived",
    "pixel data has bits set above High Bit (an overlay could hide there)",
    "image declares burned-in annotation and text detection is off",
    "a finding no table knows yet",
]


@pytest.mark.parametrize("language", ["de", "fr", "es"])
@pytest.mark.parametrize("reason", ENGINE_REASONS)
def test_every_held_back_reason_reads_in_the_reader_s_language(reason, language):
    with translation.override(language):
        sentences = wording.held_back(reason)

    assert sentences and english_leftovers(" ".join(sentences)) == []
    assert reason not in sentences


def test_reasons_of_one_kind_make_one_sentence_and_kinds_stay_apart():
    joined = "; ".join(
        [
            "a redacted region on frame 1 is not blacked out",
            "a redacted region on frame 2 is not blacked out",
            "identifying value from PatientID found in the output (UTF-8)",
        ]
    )

    assert len(wording.held_back(joined)) == 2


@pytest.mark.parametrize("language", ["de", "fr", "es"])
def test_every_not_image_sentence_of_the_engine_is_translated(language):
    sentences = [sentence for _words, sentence in non_images._KINDS]
    sentences += [
        non_images._NO_PIXELS,
        non_images._DICOMDIR,
        non_images._OTHER.format(name="Raw Data"),
    ]
    with translation.override(language):
        shown = [wording.not_image(sentence) for sentence in sentences]

    assert all(english_leftovers(words) == [] for words in shown), shown
    assert "Raw Data" in shown[-1]  # the standard's name of the class is data


def test_every_review_code_of_the_engine_has_words():
    assert set(wording.REVIEW) == set(burned_in.REVIEW_REASONS)
    with translation.override("en"):
        assert [str(wording.REVIEW[code]) for code in burned_in.REVIEW_REASONS] == list(
            burned_in.REVIEW_REASONS.values()
        )


@pytest.mark.parametrize(
    "code",
    [
        "removed",
        "emptied",
        "replaced",
        "remapped",
        "shifted",
        "kept",
        "rebuilt",
        "capped",
        "dummy",
        "cleaned",
    ],
)
def test_every_action_code_has_words_in_each_language(code):
    for language in ("de", "fr", "es"):
        with translation.override(language):
            assert wording.action(code) != code
    assert wording.action("something-new") == "something-new"
