"""The clinic's operational state: the retention policy, worker heartbeats, audit-chain checks.

None of these rows hold anything about a patient: numbers of days, queue names, worker host
names and the outcome of verifying the audit log.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

# Ten years: far beyond any policy a clinic would choose, but a typo like 36500 is refused.
MAX_RETENTION_DAYS = 3650
_days = [MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)]


class RetentionPolicy(models.Model):
    """How many days each kind of patient data is kept. There is exactly one row (pk=1).

    Read it with ``clinic.retention.current_policy()`` and change it with
    ``clinic.retention.change_policy()``, which records the change in the audit log.
    """

    SINGLETON_PK = 1

    originals_days = models.PositiveIntegerField(
        default=7,
        validators=_days,
        help_text="Uploaded files, original previews (days after upload).",
    )
    sanitized_days = models.PositiveIntegerField(
        default=30,
        validators=_days,
        help_text="De-identified images and previews (days after upload).",
    )
    answers_days = models.PositiveIntegerField(
        default=365,
        validators=_days,
        help_text="Answers and their questions (days after the answer).",
    )
    unconsented_days = models.PositiveIntegerField(
        default=14,
        validators=_days,
        help_text="Scans never consented to (days after upload).",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=48, blank=True)

    class Meta:
        verbose_name_plural = "retention policy"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="retention_policy_singleton")]

    def __str__(self) -> str:
        return (
            f"originals {self.originals_days}d, sanitized {self.sanitized_days}d, "
            f"answers {self.answers_days}d, unconsented {self.unconsented_days}d"
        )


class WorkerHeartbeat(models.Model):
    """When a worker last ran the heartbeat task on a queue: proof that the queue is consumed."""

    queue = models.CharField(max_length=40, primary_key=True)
    hostname = models.CharField(max_length=200, blank=True)
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["queue"]

    def __str__(self) -> str:
        return f"{self.queue} seen {self.last_seen:%Y-%m-%d %H:%M:%S}"


class AuditVerification(models.Model):
    """The outcome of one run of ``verify_log`` over the whole audit chain."""

    ran_at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    entries = models.BigIntegerField(default=0)
    first_bad = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=300)
    head_tree_size = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-ran_at", "-id"]

    def __str__(self) -> str:
        return f"audit check {self.ran_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'BROKEN'}"
