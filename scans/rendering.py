"""CT windows: which range of Hounsfield units a picture shows, for viewing and for sending.

A CT slice holds far more contrast than a screen can show; a radiologist picks a window for the
question (lungs, soft tissue, bone, brain). A question about the lungs asked on a soft-tissue
rendering would hide the answer, so the patient chooses the window each CT series is sent in,
and the consent manifest names it. Keys are stable: they are written into manifests.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from scans.deid.preview import Window


@dataclass(frozen=True)
class Preset:
    key: str
    label: str | Promise
    center: float
    width: float
    shows: str | Promise

    @property
    def bounds(self) -> Window:
        """(low, high) in HU, as PS3.3 C.11.2.1.2.1 defines a linear window."""
        low = self.center - 0.5 - (self.width - 1) / 2
        return low, low + (self.width - 1)


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("soft_tissue", _("Soft tissue"), 40, 400, _("organs, muscle and fat")),
        Preset("lung", _("Lung"), -600, 1500, _("the lungs and airways")),
        Preset("bone", _("Bone"), 400, 1800, _("bones and joints")),
        Preset("brain", _("Brain"), 40, 80, _("the brain")),
    )
}
# The file's own window, as the scanner saved it; the choice for anything that is not CT.
AS_SAVED = "as_saved"
AS_SAVED_LABEL = _("As saved by the scanner")

_BY_BODY_PART = (
    (("HEAD", "BRAIN", "SKULL"), "brain"),
    (("CHEST", "THORAX", "LUNG"), "lung"),
    (("SPINE", "PELVIS", "KNEE", "HIP", "SHOULDER", "WRIST", "ANKLE", "EXTREMITY"), "bone"),
)


def is_ct(modality: str) -> bool:
    return modality.upper() == "CT"


def default_window(modality: str, body_part: str, description: str = "") -> str:
    """The window a CT series is shown and sent in until the patient picks another."""
    if not is_ct(modality):
        return AS_SAVED
    words = f"{body_part} {description}".upper()
    for names, key in _BY_BODY_PART:
        if any(name in words for name in names):
            return key
    return "soft_tissue"


def window_bounds(key: str | None) -> Window | None:
    """The (low, high) of a preset, or None for the file's own window (unknown keys too)."""
    preset = PRESETS.get(key or "")
    return preset.bounds if preset else None


def choices_for(modality: str) -> list[tuple[str, str]]:
    """(key, label) a patient may pick for a series of this modality."""
    as_saved = (AS_SAVED, str(AS_SAVED_LABEL))
    if not is_ct(modality):
        return [as_saved]
    return [(p.key, str(p.label)) for p in PRESETS.values()] + [as_saved]
