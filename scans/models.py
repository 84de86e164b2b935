"""A scan (one study a patient uploaded), its files, its images and its status history.

Nothing identifying is stored here in the clear: file contents live in the vault (encrypted),
original file names are not kept at all, and error messages are written for the patient without
quoting anything from their files.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Waiting for de-identification")
    DEIDENTIFYING = "deidentifying", _("De-identifying")
    READY_FOR_REVIEW = "ready_for_review", _("Ready for your review")
    QUARANTINED = "quarantined", _("Quarantined")
    # Every file was a report, plan, recording or other non-image: nothing failed, nothing to send.
    NO_IMAGES = "no_images", _("No images to send")
    FAILED = "failed", _("Failed")
    CONSENTED = "consented", _("Consent given")
    SENDING = "sending", _("Sending")
    ANSWERED = "answered", _("Answered")
    SEND_FAILED = "send_failed", _("Sending failed")
    DELETED = "deleted", _("Deleted")


class Scan(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scans"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UPLOADED)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    created_at = models.DateTimeField(auto_now_add=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error_message = models.CharField(max_length=300, blank=True)
    # How often the sweeper had to re-enqueue this scan; a poison scan stops being retried.
    attempts = models.PositiveIntegerField(default=0)
    # The worker planning this scan's chunks holds a lease; a dead worker's lease runs out and
    # the sweeper hands the scan to another. Once planned, each chunk has its own (ScanChunk).
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "status_changed_at"])]

    def __str__(self) -> str:
        return f"scan {self.id} ({self.status})"

    @property
    def file_count(self) -> int:
        return self.files.count()


class ScanTransition(models.Model):
    """One status change of a scan, recorded by ``scans.pipeline.transition`` and nowhere else."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=Status.choices)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


class FileKind(models.TextChoices):
    DICOM = "dicom", _("DICOM")
    ZIP = "zip", _("ZIP archive")
    JPEG = "jpeg", _("JPEG photo")
    PNG = "png", _("PNG image")


class ScanFile(models.Model):
    """One uploaded file, as sealed in the vault. Its original name is deliberately not kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="files")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=FileKind.choices)
    size = models.BigIntegerField()
    vault_object = models.UUIDField(null=True, blank=True)
    image_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["scan", "position"], name="unique_file_position")
        ]

    def __str__(self) -> str:
        return f"file {self.position} of scan {self.scan_id}"


class Outcome(models.TextChoices):
    CLEAN = "clean", _("Clean")
    QUARANTINED = "quarantined", _("Quarantined")
    REJECTED = "rejected", _("Rejected")
    # A report, plan, recording, document or index (scans.deid.non_images): never sent.
    NOT_IMAGE = "not_image", _("Not an image — not sent")


class ScanImage(models.Model):
    """One image found in the scan's files (a ZIP holds many), with its de-identification result."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="images")
    source = models.ForeignKey(ScanFile, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveIntegerField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    reason = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=10, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    sanitized_object = models.UUIDField(null=True, blank=True)
    sanitized_sha256 = models.CharField(max_length=64, blank=True)
    sanitized_size = models.BigIntegerField(default=0)
    preview_object = models.UUIDField(null=True, blank=True)
    original_preview_object = models.UUIDField(null=True, blank=True)
    attestation = models.CharField(max_length=64, blank=True)
    # "Check this image" (report["pixels"]["review"]): a mark left in place or a box over the
    # body. Shown with its boxes and reasons, and never chosen for sending on the patient's behalf.
    needs_check = models.BooleanField(default=False)
    # The report holds categories, attribute names, actions and regions, never original values.
    report = models.JSONField(default=dict)
    # How the image is shown and grouped, read once from its sanitized header (scans.series):
    # series, description, body part, slice number. Never from the original.
    display = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["scan", "position"], name="unique_image_position")
        ]

    def __str__(self) -> str:
        return f"image {self.position} of scan {self.scan_id} ({self.outcome})"


class ChunkState(models.TextChoices):
    # Planned, held back by the per-patient fair share (scans.fairshare) until it may go.
    PENDING = "pending", "Waiting its turn"
    # Handed to the broker: a worker will claim it.
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class ScanChunk(models.Model):
    """A slice range of a study (images ``first_position`` to ``last_position`` in upload order),
    de-identified by one ``deid`` task so a large study spreads over every worker.

    Its worker holds a lease it renews per image, like the scan's; a dead worker's chunk is run
    again from a clean slate once the lease runs out. Counts only, never anything identifying:
    the images and CPU seconds feed the per-patient fair share.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    first_position = models.PositiveIntegerField()
    last_position = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=ChunkState.choices, default=ChunkState.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Runs lost with their worker; a chunk that keeps killing workers fails its scan.
    attempts = models.PositiveIntegerField(default=0)
    cpu_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["scan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["scan", "number"], name="unique_chunk_number")
        ]
        indexes = [models.Index(fields=["state", "finished_at"])]

    def __str__(self) -> str:
        return f"chunk {self.number} of scan {self.scan_id} ({self.state})"

    @property
    def images(self) -> int:
        return self.last_position - self.first_position + 1


# --- Consent, sending and answers (written by scans.consent, scans.sending, scans.answers) ------
#
# A patient's consent is evidence: what exactly they agreed to send, where, and when. Its content
# fields are written once; only the state fields change afterwards, and only by conditional
# UPDATEs in scans.consent and scans.sending. Images, the question and the answer live in the
# vault; rows hold object ids and hashes.


class ConsentState(models.TextChoices):
    ACTIVE = "active", _("Waiting to be sent")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    EXPIRED = "expired", _("Expired unused")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent, answer received")
    SEND_FAILED = "send_failed", _("Sending failed")
    REFUSED = "refused", _("Refused by the gateway's checks")
    OUTCOME_UNKNOWN = "outcome_unknown", _("Outcome unknown")


class ConsentRequest(models.Model):
    """What the patient is about to agree to: prepared images, sealed question, consent text.

    ``prepared`` lists ``{image_id, object_id, sha256, mime, bytes}`` of each image exactly as it
    would be sent; ``manifest`` is the canonical JSON the patient's consent commits to.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="consent_requests")
    endpoint = models.ForeignKey(
        "forwarding.Endpoint", on_delete=models.PROTECT, related_name="consent_requests"
    )
    endpoint_snapshot = models.JSONField()
    question_object = models.UUIDField()
    question_sha256 = models.CharField(max_length=64)
    prepared = models.JSONField()
    manifest = models.TextField()
    manifest_sha256 = models.CharField(max_length=64)
    consent_text = models.TextField()
    consent_text_version = models.CharField(max_length=20)
    consent_text_sha256 = models.CharField(max_length=64)
    # The language of the consent text the patient read (scans.consent.text.CONSENT_WORDINGS).
    consent_language = models.CharField(max_length=8, default="en")
    # Categories only ("name", "date"...), never the matched text.
    question_warnings = models.JSONField(default=list)
    warnings_confirmed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"consent request {self.id}"


class ImmutableContentError(Exception):
    """Raised when code tries to change what a patient consented to."""


class Consent(models.Model):
    """One patient's consent to ONE send of the images and question of a request."""

    STATE_FIELDS = frozenset(
        {"state", "state_changed_at", "claim_token", "attempts", "last_status", "failure_reason"}
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.OneToOneField(ConsentRequest, on_delete=models.PROTECT, related_name="consent")
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="consents")
    patient_pseudonym = models.CharField(max_length=32)
    endpoint = models.ForeignKey(
        "forwarding.Endpoint", on_delete=models.PROTECT, related_name="consents"
    )
    endpoint_snapshot = models.JSONField()
    consent_text = models.TextField()
    consent_text_version = models.CharField(max_length=20)
    consent_text_sha256 = models.CharField(max_length=64)
    # The language of the consent text the patient read (scans.consent.text.CONSENT_WORDINGS).
    consent_language = models.CharField(max_length=8, default="en")
    manifest = models.TextField()
    manifest_sha256 = models.CharField(max_length=64)
    question_object = models.UUIDField()
    # {image_id: prepared vault object id}: where the manifest's bytes are kept.
    prepared_objects = models.JSONField()
    given_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # HMAC of the client's IP address and user agent: evidence without keeping either.
    client_hash = models.CharField(max_length=64)

    # State: changed only by conditional UPDATEs (see STATE_FIELDS).
    state = models.CharField(
        max_length=16, choices=ConsentState.choices, default=ConsentState.ACTIVE
    )
    state_changed_at = models.DateTimeField(auto_now_add=True)
    claim_token = models.UUIDField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    failure_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-given_at"]
        indexes = [models.Index(fields=["state", "expires_at"])]

    def __str__(self) -> str:
        return f"consent {self.id} ({self.state})"

    def save(self, *args, **kwargs) -> None:
        """Insert once; afterwards only state fields may be written, never the content."""
        update_fields = kwargs.get("update_fields")
        if not self._state.adding and (
            update_fields is None or not set(update_fields) <= self.STATE_FIELDS
        ):
            raise ImmutableContentError("a consent's content cannot be changed")
        super().save(*args, **kwargs)


class Answer(models.Model):
    """The AI's answer to one consent, sealed in the vault until the patient deletes it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consent = models.OneToOneField(Consent, on_delete=models.PROTECT, related_name="answer")
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="answers")
    answer_object = models.UUIDField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    endpoint_name = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"answer {self.id}"


class ResumableUpload(models.Model):
    """One file being uploaded in resumable pieces (tus 1.0), before it joins a scan.

    Each piece that arrives is sealed into the vault as its own object (``segments``: a list of
    ``[object_id, size]`` in order), so a dropped connection loses at most the piece in flight
    and nothing is ever written in plaintext. The file's name is never stored.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="resumable_uploads"
    )
    length = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    segments = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return f"resumable upload {self.id} ({self.offset}/{self.length})"

    @property
    def complete(self) -> bool:
        return self.offset == self.length
