"""The intake limits from settings, in the shape the intake library takes.

Uploads, de-identification and the question check all read files through the same limits, so a
ZIP is judged the same way whenever it is opened.
"""

from __future__ import annotations

from django.conf import settings

from scans.intake import IntakeLimits


def intake_limits() -> IntakeLimits:
    return IntakeLimits(
        max_files=settings.UPLOAD_MAX_FILES,
        max_total_bytes=settings.UPLOAD_MAX_BYTES,
        zip_max_members=settings.ZIP_MAX_MEMBERS,
        zip_max_ratio=settings.ZIP_MAX_RATIO,
        zip_max_uncompressed_bytes=settings.ZIP_MAX_UNCOMPRESSED_BYTES,
        image_max_pixels=settings.IMAGE_MAX_PIXELS,
    )
