"""What the clinic's node received and what became of it.

No row holds patient data in the clear: a study is known by the SHA-256 of its Study Instance
UID, its instances by the SHA-256 of their SOP Instance UIDs, and what clinicians are shown
(patient name and ids, study date and description) is sealed in the vault (``summary_object``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class DicomNode(models.Model):
    """The node's own AE title, set by the clinic admin. There is exactly one row (pk=1)."""

    SINGLETON_PK = 1

    ae_title = models.CharField(max_length=16, default="SCANGATEWAY")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="pacs_node_singleton")]

    def __str__(self) -> str:
        return self.ae_title


class AllowedPeer(models.Model):
    """A sender the node accepts: its calling AE title *and* the address it connects from."""

    ae_title = models.CharField(max_length=16)
    address = models.GenericIPAddressField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ae_title", "address"]
        constraints = [
            models.UniqueConstraint(fields=["ae_title", "address"], name="pacs_peer_unique")
        ]

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.address}"


class DicomwebToken(models.Model):
    """A clinic token for DICOMweb (STOW-RS and QIDO-RS). Only its hash is stored."""

    PREFIX = "dcw_"

    name = models.CharField(max_length=80)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=48)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"


class Source(models.TextChoices):
    DIMSE = "dimse", "DICOM C-STORE"
    STOW = "stow", "DICOMweb STOW-RS"


class Study(models.Model):
    """One study as the PACS sent it, instance by instance, into the clinic's inbox."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study_uid_sha256 = models.CharField(max_length=64, unique=True)
    summary_object = models.UUIDField()
    source = models.CharField(max_length=8, choices=Source.choices)
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    instance_count = models.PositiveIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return f"study {self.pk}"


class Instance(models.Model):
    """One received SOP instance, sealed in the vault as a DICOM Part-10 file."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="instances")
    sop_uid_sha256 = models.CharField(max_length=64)
    vault_object = models.UUIDField()
    size = models.BigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at"]
        constraints = [
            models.UniqueConstraint(fields=["study", "sop_uid_sha256"], name="pacs_instance_once")
        ]

    def __str__(self) -> str:
        return f"instance {self.pk}"


class Handoff(models.Model):
    """A study given to a patient: from here on it is the patient's scan, theirs to consent to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="handoffs")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pacs_handoffs"
    )
    scan = models.OneToOneField("scans.Scan", on_delete=models.CASCADE, related_name="handoff")
    by = models.CharField(max_length=48)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"handoff {self.pk}"


class Share(models.Model):
    """A patient's answer (with its question and the images sent) shared with the clinic."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answer = models.ForeignKey("scans.Answer", on_delete=models.CASCADE, related_name="shares")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pacs_shares"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["answer"], condition=Q(revoked_at=None), name="pacs_one_live_share"
            )
        ]

    def __str__(self) -> str:
        return f"share {self.pk}"
