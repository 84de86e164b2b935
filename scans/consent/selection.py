"""Which images of a scan may be sent, and which are chosen when the patient does not choose."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext as _

from forwarding.models import Endpoint
from scans.attestation import is_attested
from scans.consent.errors import ConsentError
from scans.models import Outcome, Scan, ScanImage


def sendable_images(scan: Scan) -> list[ScanImage]:
    """Clean images with a sanitized copy and a valid attestation, in study order."""
    return [
        image
        for image in scan.images.filter(outcome=Outcome.CLEAN, sanitized_object__isnull=False)
        if is_attested(image.sanitized_sha256, scan.pk, image.attestation)
    ]


def default_selection(images: Sequence[ScanImage], cap: int) -> list[ScanImage]:
    """``cap`` images spread evenly from first to last, so the whole study is represented
    rather than its first slices. Images flagged "check this image" are never chosen for the
    patient: only the patient, having looked at them, may tick them."""
    images = [image for image in images if not image.needs_check]
    count = min(len(images), cap)
    if count <= 0:
        return []
    if count == 1:
        return [images[len(images) // 2]]
    last = len(images) - 1
    picks = sorted({round(i * last / (count - 1)) for i in range(count)})
    return [images[i] for i in picks]


def chosen_images(
    scan: Scan, endpoint: Endpoint, image_ids: Sequence[str] | None
) -> list[ScanImage]:
    if not image_ids:
        sendable = sendable_images(scan)
        spread = default_selection(sendable, endpoint.max_images)
        if not spread and sendable:
            raise ConsentError(
                _(
                    "Every image of this scan should be checked before it is sent; look at the "
                    "marked boxes and choose the images to send yourself."
                ),
                status=409,
            )
        if not spread:
            raise ConsentError(_("This scan has no image that can be sent."), status=409)
        return spread
    by_id = {str(image.id): image for image in scan.images.all()}
    chosen: list[ScanImage] = []
    for raw in dict.fromkeys(str(i) for i in image_ids):
        image = by_id.get(raw)
        if image is None:
            raise ConsentError(_("One of the chosen images is not part of this scan."), status=400)
        if image.outcome != Outcome.CLEAN or image.sanitized_object is None:
            raise ConsentError(
                _(
                    "Image %(position)s was not made safe to share (%(outcome)s), "
                    "so it can never be sent."
                )
                % {"position": image.position, "outcome": image.get_outcome_display().lower()},
                status=400,
            )
        if not is_attested(image.sanitized_sha256, scan.pk, image.attestation):
            raise ConsentError(
                _(
                    "Image %(position)s has no valid verification record, so it cannot be "
                    "sent. Please upload the scan again."
                )
                % {"position": image.position},
                status=400,
            )
        chosen.append(image)
    if len(chosen) > endpoint.max_images:
        raise ConsentError(
            _("%(name)s accepts at most %(max)s images; you chose %(count)s.")
            % {"name": endpoint.name, "max": endpoint.max_images, "count": len(chosen)},
            status=400,
        )
    return sorted(chosen, key=lambda image: image.position)
