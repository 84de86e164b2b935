"""The de-identification engine's findings, in the reader's language.

The engine (``scans.deid``) is a plain library without Django: it records action codes
("removed", "remapped" ...), review codes ("over-body", "unreadable") and short English
sentences for what it held back or did not treat as an image. Those stay as they are in the
database, the report and the audit log; pages ask here for the words to show instead.
A finding this module does not know is shown as a general sentence, never in English.
"""

from __future__ import annotations

import re

from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from scans.deid import non_images
from scans.models import ScanImage

# What de-identification did to one attribute (the report's action codes).
ACTIONS: dict[str, Promise] = {
    "removed": pgettext_lazy("what was done to a header attribute", "removed"),
    "emptied": pgettext_lazy("what was done to a header attribute", "emptied"),
    "replaced": pgettext_lazy("what was done to a header attribute", "replaced"),
    "remapped": pgettext_lazy("what was done to a header attribute", "replaced by a code"),
    "shifted": pgettext_lazy("what was done to a header attribute", "moved in time"),
    "kept": pgettext_lazy("what was done to a header attribute", "kept"),
    "rebuilt": pgettext_lazy("what was done to a header attribute", "rebuilt"),
    "capped": pgettext_lazy("what was done to a header attribute", "capped at 90"),
    "dummy": pgettext_lazy("what was done to a header attribute", "replaced by a placeholder"),
    "cleaned": pgettext_lazy("what was done to a header attribute", "cleaned"),
}

# Why the patient should check an image (the codes of ``scans.deid.burned_in.REVIEW_REASONS``).
REVIEW: dict[str, Promise] = {
    "over-body": _(
        "A black box covers part of the picture itself, not only its margins: check that it "
        "hides nothing you need."
    ),
    "unreadable": _(
        "Something that looks like writing could not be read and was left in place: check "
        "that it does not show who you are."
    ),
}
CHECK_IMAGE = _("Please check this image before sending it.")

# The engine's sentence for a file that is not an image (``non_images``), by that sentence.
_NOT_IMAGE_WORDS: tuple[Promise, ...] = (
    _("A note listing key images chosen by the radiologist: not an image, so it is not sent."),
    _("A written report stored as structured text: not an image, so it is not sent."),
    _("A document (such as a PDF) stored inside DICOM: not an image, so it is not sent."),
    _(
        "Outlines of structures drawn on other images (a segmentation): not an image, so it "
        "is not sent."
    ),
    _("A signal recording such as an ECG (a waveform): not an image, so it is not sent."),
    _("Display settings for other images (a presentation state): not an image, so it is not sent."),
    _("Radiotherapy planning or treatment data: not an image, so it is not sent."),
)
NOT_IMAGE: dict[str, Promise] = {
    sentence: words
    for (_words, sentence), words in zip(non_images._KINDS, _NOT_IMAGE_WORDS, strict=True)
} | {
    non_images._NO_PIXELS: _(
        "An image record without the picture itself (header only): there is nothing to send."
    ),
    non_images._DICOMDIR: _(
        "The disc's index of its files (DICOMDIR): not an image, so it is not sent."
    ),
}
_OTHER_NOT_IMAGE = re.compile(
    re.escape(non_images._OTHER).replace(re.escape("{name}"), "(?P<name>.+)")
)

# The verifier's and the engine's reasons for holding an image back, by kind of finding. The
# first pattern that matches a reason names it; the reason's own words are data (they name DICOM
# keywords and tags, never a value) and are shown as the engine wrote them, for the curious.
HELD_BACK: tuple[tuple[re.Pattern[str], Promise], ...] = (
    (
        re.compile(r"identifying value .* found in the output|original UID survived"),
        _("Something that identifies you was still found in the cleaned file."),
    ),
    (
        re.compile(r"redacted (region|frame)|not blacked out|redacted regions"),
        _("An area that had to be blacked out was not fully black in the cleaned image."),
    ),
    (
        re.compile(
            r"text (on frame|still detected)|readable text|resembles a patient identifier"
            r"|text the detector|text detection|burned-in annotation|in the pixels"
        ),
        _("Text that may identify you is still visible in the picture."),
    ),
    (
        re.compile(r"cleaned (photo|JPEG|PNG)|photo"),
        _("The cleaned photo still carries hidden details, or could not be checked."),
    ),
    (
        re.compile(
            r"attribute|UID|PatientIdentityRemoved|PatientID|file meta|coded entry|Procedure"
            r"|holds a|preamble|pseudonym|over 89|deflated|output"
        ),
        _("The cleaned file's header still held something that is not allowed."),
    ),
    (
        re.compile(r"pixel data|transfer syntax|bits|decoded|frame"),
        _("The picture in this file could not be read or rewritten safely."),
    ),
    (
        re.compile(r"DICOM|file meta|data set|could not be read"),
        _("This file could not be read as a medical image."),
    ),
)
HELD_BACK_OTHERWISE = _("This image could not be made safe to send.")


# The one message a worker stores with a value in it (``scans.sending.UNKNOWN_MESSAGE``): when
# a send's outcome is unknown, with the AI service's name.
UNKNOWN_SEND = (
    "We could not confirm whether your images reached {name}. They were not sent again. "
    "You can give a new consent to try again."
)
_UNKNOWN_SEND = re.compile(
    re.escape(UNKNOWN_SEND).replace(re.escape("{name}"), "(?P<name>.+?)"), re.DOTALL
)


def scan_message(message: str) -> str:
    """A scan's stored ``error_message`` (written in English by a worker, which has no reader)
    in the reader's language; a sentence the catalogues do not know is shown as it is."""
    if not message:
        return ""
    unknown = _UNKNOWN_SEND.fullmatch(message)
    if unknown:
        return gettext(
            "We could not confirm whether your images reached %(name)s. They were not sent "
            "again. You can give a new consent to try again."
        ) % {"name": unknown["name"]}
    return gettext(message)


def action(code: str) -> str:
    """The words for an attribute's action code; an unknown code is shown as it is."""
    words = ACTIONS.get(code)
    return str(words) if words is not None else code


def review_reasons(image: ScanImage) -> list[str]:
    """Why the patient should look at ``image`` before sending it; empty if no need."""
    if not image.needs_check:
        return []
    review = (image.report or {}).get("pixels", {}).get("review") or {}
    codes = dict.fromkeys(str(box[5]) for box in review.get("boxes") or [] if len(box) > 5)
    words = [str(REVIEW[code]) for code in codes if code in REVIEW]
    return words or [str(CHECK_IMAGE)]


def not_image(reason: str) -> str:
    """The engine's sentence for a file that is not an image, in the reader's language."""
    words = NOT_IMAGE.get(reason)
    if words is not None:
        return str(words)
    other = _OTHER_NOT_IMAGE.fullmatch(reason)
    if other:
        # The name is the DICOM standard's name of the object's class (data, not words).
        return gettext("Data that is not an image (%(name)s), so it is not sent.") % {
            "name": other["name"]
        }
    return gettext("This file is not an image, so it is not sent.")


def held_back(reason: str) -> list[str]:
    """What kept an image back, one sentence per kind of finding in the engine's ``reason``."""
    found: dict[str, None] = {}
    for part in (p.strip() for p in reason.split(";")):
        if not part:
            continue
        words = next((w for pattern, w in HELD_BACK if pattern.search(part)), HELD_BACK_OTHERWISE)
        found[str(words)] = None
    return list(found) or [str(HELD_BACK_OTHERWISE)]


def outcome_reason(image: ScanImage) -> list[str]:
    """The sentences to show under an image that was not cleaned (or is not an image)."""
    if image.outcome == "not_image":
        return [not_image(image.reason)]
    if image.outcome == "clean":
        return []
    return held_back(image.reason)
