"""Retention: how long each kind of patient data is kept, and destroying what has outlived it.

Four rules, each counted from its own clock (the numbers of days live in ``RetentionPolicy``):

* ``originals``: the uploaded files and the previews rendered from the original pixels (which
  still show whatever the scanner burned in), ``originals_days`` after upload;
* ``sanitized``: de-identified images and their previews, plus the material of consents that no
  live answer needs (images prepared for sending, the sealed question), ``sanitized_days`` after
  upload;
* ``answers``: the AI's answer and the question it answered, ``answers_days`` after the answer;
* ``unconsented``: a scan its patient never consented to send loses everything and is marked
  deleted, ``unconsented_days`` after upload.

Destroying means crypto-shredding through the vault (wrapped key first, then blob) and clearing
the row's pointer, one scan (or answer) per transaction with its row locked. A scan that is busy
is left alone until it is not: one being de-identified (a worker reads and writes its objects),
one being sent or with a consent waiting to be sent (its images may be on the wire), and one whose
patient is looking at a consent form right now. Consent and answer rows are evidence and are
never rewritten: whether their objects are already gone is read from the vault's key table, which
is also what makes a second run find nothing to do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.translation import pgettext_lazy

from audit.actions import AuditAction
from audit.log import append as audit
from clinic.models import RetentionPolicy
from scans.busy import busy_scan_ids, is_busy
from scans.deletion import delete_scan
from scans.inventory import (
    all_objects_of,
    answer_objects,
    consent_material,
    original_objects,
    owned_objects,
    sanitized_objects,
)
from scans.models import Answer, Consent, Scan, ScanFile, ScanImage, ScanTransition, Status
from vault import get_vault

log = logging.getLogger(__name__)

# In the order ``apply`` runs them: deleting a whole scan first leaves nothing for the others.
CATEGORIES = ("unconsented", "originals", "sanitized", "answers")
POLICY_FIELDS = ("originals_days", "sanitized_days", "answers_days", "unconsented_days")
# Each rule as the retention page names it (in English, its own name).
CATEGORY_LABELS = {
    "unconsented": pgettext_lazy("retention rule", "unconsented"),
    "originals": pgettext_lazy("retention rule", "originals"),
    "sanitized": pgettext_lazy("retention rule", "sanitized"),
    "answers": pgettext_lazy("retention rule", "answers"),
}


# --- The policy ---------------------------------------------------------------------------------


def current_policy() -> RetentionPolicy:
    """The clinic's one retention policy row, created with the defaults on first use."""
    policy, _ = RetentionPolicy.objects.get_or_create(pk=RetentionPolicy.SINGLETON_PK)
    return policy


def change_policy(*, actor: str, **days: int) -> list[str]:
    """Set some of the policy's numbers of days; returns the names of those that changed.

    The change and its audit entry ("retention.changed", with the new numbers) commit together.
    """
    unknown = set(days) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"not a retention setting: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        policy = (
            RetentionPolicy.objects.select_for_update()
            .filter(pk=RetentionPolicy.SINGLETON_PK)
            .first()
            or current_policy()
        )
        changed = sorted(name for name, value in days.items() if getattr(policy, name) != value)
        if not changed:
            return []
        for name in changed:
            setattr(policy, name, days[name])
        policy.full_clean()
        policy.updated_by = actor
        policy.save()
        audit(
            AuditAction.RETENTION_CHANGED,
            actor=actor,
            object_type="retention_policy",
            object_id=str(policy.pk),
            details={"fields": changed} | {name: getattr(policy, name) for name in POLICY_FIELDS},
        )
    return changed


# --- What would go ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One rule's work: for each target (a scan, or an answer), the vault objects it would lose.

    A target of ``unconsented`` may have no objects left and still be listed: it is marked deleted.
    """

    category: str
    cutoff: datetime
    targets: dict[uuid.UUID, tuple[uuid.UUID, ...]]

    @property
    def label(self) -> str:
        return str(CATEGORY_LABELS.get(self.category, self.category))

    @property
    def target_type(self) -> str:
        return "answer" if self.category == "answers" else "scan"

    @property
    def object_count(self) -> int:
        return sum(len(objects) for objects in self.targets.values())


@dataclass(frozen=True)
class RetentionPlan:
    now: datetime
    batches: tuple[Batch, ...]
    busy: tuple[uuid.UUID, ...] = ()

    def batch(self, category: str) -> Batch:
        return next(batch for batch in self.batches if batch.category == category)

    @property
    def is_empty(self) -> bool:
        return not any(batch.targets for batch in self.batches)


@dataclass
class RetentionReport:
    """What ``apply`` did: per category the targets it finished and the objects it shredded."""

    now: datetime
    targets: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    shredded: dict[str, int] = field(default_factory=dict)
    # Targets in the plan that had become busy by the time their turn came.
    skipped: list[uuid.UUID] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not any(self.targets.values())


def _ever_consented(scan_id: uuid.UUID) -> bool:
    return (
        Consent.objects.filter(scan_id=scan_id).exists()
        or ScanTransition.objects.filter(scan_id=scan_id, to_status=Status.CONSENTED).exists()
    )


def _unconsented_candidates(cutoff: datetime) -> list[uuid.UUID]:
    never_consented = (
        Scan.objects.filter(created_at__lt=cutoff)
        .exclude(status__in=[Status.DELETED, Status.SENDING])
        .exclude(pk__in=Consent.objects.values("scan_id"))
        .exclude(pk__in=ScanTransition.objects.filter(to_status=Status.CONSENTED).values("scan_id"))
    )
    return list(never_consented.order_by("created_at").values_list("pk", flat=True))


def _originals_candidates(cutoff: datetime) -> list[uuid.UUID]:
    holding = Scan.objects.filter(created_at__lt=cutoff).filter(
        Q(files__vault_object__isnull=False) | Q(images__original_preview_object__isnull=False)
    )
    return list(holding.order_by("created_at").values_list("pk", flat=True).distinct())


def _sanitized_candidates(cutoff: datetime) -> list[uuid.UUID]:
    # Scans with consent rows are candidates even without image pointers: their consent material
    # is checked against the vault's key table, scan by scan.
    holding = Scan.objects.filter(created_at__lt=cutoff).filter(
        Q(images__sanitized_object__isnull=False)
        | Q(images__preview_object__isnull=False)
        | Q(consent_requests__isnull=False)
        | Q(consents__isnull=False)
    )
    return list(holding.order_by("created_at").values_list("pk", flat=True).distinct())


def _answers_candidates(cutoff: datetime) -> list[uuid.UUID]:
    # An answer this rule finished has no pointer and a deletion time; its question is gone too.
    # (A question left by a patient's own deletion of the answer goes with the sanitized rule.)
    old = Answer.objects.filter(created_at__lt=cutoff).filter(
        Q(answer_object__isnull=False) | Q(deleted_at__isnull=True)
    )
    return list(old.order_by("created_at").values_list("pk", flat=True))


def plan(now: datetime) -> RetentionPlan:
    """What ``apply(now)`` would destroy, without changing anything."""
    policy = current_policy()
    busy = busy_scan_ids(now)
    cutoffs = {
        "unconsented": now - timedelta(days=policy.unconsented_days),
        "originals": now - timedelta(days=policy.originals_days),
        "sanitized": now - timedelta(days=policy.sanitized_days),
        "answers": now - timedelta(days=policy.answers_days),
    }
    skipped: set[uuid.UUID] = set()

    def collect(
        candidates: list[uuid.UUID],
        objects_of: Callable[[uuid.UUID], list[uuid.UUID]],
        *,
        going: set[uuid.UUID],
        keep_empty: bool = False,
    ) -> dict[uuid.UUID, tuple[uuid.UUID, ...]]:
        targets: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}
        for scan_id in candidates:
            if scan_id in going:
                continue
            objects = objects_of(scan_id)
            if not objects and not keep_empty:
                continue
            if scan_id in busy:
                skipped.add(scan_id)
                continue
            targets[scan_id] = tuple(objects)
        return targets

    unconsented = collect(
        _unconsented_candidates(cutoffs["unconsented"]),
        lambda scan_id: all_objects_of(Scan.objects.get(pk=scan_id)),
        going=set(),
        keep_empty=True,
    )
    going = set(unconsented)
    originals = collect(_originals_candidates(cutoffs["originals"]), original_objects, going=going)
    sanitized = collect(_sanitized_candidates(cutoffs["sanitized"]), sanitized_objects, going=going)
    answers: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}
    old_answers = Answer.objects.filter(
        pk__in=_answers_candidates(cutoffs["answers"])
    ).select_related("consent__request")
    for answer in old_answers:
        if answer.scan_id in going:
            continue
        objects = answer_objects(answer)
        if not objects:
            continue
        if answer.scan_id in busy:
            skipped.add(answer.scan_id)
            continue
        answers[answer.pk] = tuple(objects)
    batches = (
        Batch("unconsented", cutoffs["unconsented"], unconsented),
        Batch("originals", cutoffs["originals"], originals),
        Batch("sanitized", cutoffs["sanitized"], sanitized),
        Batch("answers", cutoffs["answers"], answers),
    )
    return RetentionPlan(now, batches, tuple(sorted(skipped)))


# --- Destroying it ------------------------------------------------------------------------------


def _shred(objects: Iterable[uuid.UUID]) -> int:
    vault = get_vault()
    count = 0
    for object_id in objects:
        vault.shred(object_id)
        count += 1
    return count


def _apply_to_scan(scan_id: uuid.UUID, category: str, now: datetime, actor: str) -> int | None:
    """Destroy one scan's share of ``category``; None if the scan is busy or gone by now.

    The objects are recomputed with the scan row locked, so a scan that started sending after
    the plan was made is skipped, and one that another run finished yields nothing.
    """
    with transaction.atomic():
        scan = Scan.objects.select_for_update().filter(pk=scan_id).first()
        if scan is None or is_busy(scan, now):
            return None
        if category == "unconsented":
            if scan.status == Status.DELETED or _ever_consented(scan.pk):
                return None
            material = consent_material(scan.pk, keep_answered_questions=False)
            shredded = _shred(material) + len(owned_objects(scan))
            if not delete_scan(scan, actor=actor):
                return None
        elif category == "originals":
            shredded = _shred(original_objects(scan.pk))
            ScanFile.objects.filter(scan=scan).update(vault_object=None)
            ScanImage.objects.filter(scan=scan).update(original_preview_object=None)
        elif category == "sanitized":
            shredded = _shred(sanitized_objects(scan.pk))
            ScanImage.objects.filter(scan=scan).update(sanitized_object=None, preview_object=None)
        else:
            raise ValueError(f"unknown retention category {category!r}")
        if shredded or category == "unconsented":
            audit(
                AuditAction.RETENTION_SHREDDED,
                actor=actor,
                object_type="scan",
                object_id=str(scan.pk),
                details={"category": category, "objects": shredded},
            )
    return shredded


def _apply_to_answer(answer_id: uuid.UUID, now: datetime, actor: str) -> int | None:
    with transaction.atomic():
        answer = Answer.objects.select_related("consent__request").filter(pk=answer_id).first()
        if answer is None:
            return None
        # Lock the scan, as for the other rules: a send of this scan blocks until we are done.
        scan = Scan.objects.select_for_update().get(pk=answer.scan_id)
        if is_busy(scan, now):
            return None
        shredded = _shred(answer_objects(answer))
        Answer.objects.filter(pk=answer.pk).update(
            answer_object=None, deleted_at=Coalesce("deleted_at", now)
        )
        if shredded:
            audit(
                AuditAction.RETENTION_SHREDDED,
                actor=actor,
                object_type="answer",
                object_id=str(answer.pk),
                details={"category": "answers", "objects": shredded, "scan": str(answer.scan_id)},
            )
    return shredded


def apply(now: datetime, *, actor: str = "system") -> RetentionReport:
    """Destroy everything the policy says has outlived its time, as of ``now``.

    Idempotent: a second run finds nothing left and writes nothing. Each target is its own
    transaction, so a crash part-way loses no more than the target in progress, and the next
    run picks up the rest. One "retention.shredded" audit entry per target (ids and counts) and
    a "retention.applied" summary (counts) record what was done.
    """
    report = RetentionReport(now)
    for batch in plan(now).batches:
        done: list[uuid.UUID] = []
        shredded = 0
        for target in batch.targets:
            if batch.category == "answers":
                result = _apply_to_answer(target, now, actor)
            else:
                result = _apply_to_scan(target, batch.category, now, actor)
            if result is None:
                report.skipped.append(target)
                continue
            done.append(target)
            shredded += result
        report.targets[batch.category] = done
        report.shredded[batch.category] = shredded
    if not report.is_empty:
        details: dict[str, int] = {}
        for category in CATEGORIES:
            details[category] = len(report.targets.get(category, []))
            details[f"{category}_objects"] = report.shredded.get(category, 0)
        details["skipped"] = len(report.skipped)
        audit(
            AuditAction.RETENTION_APPLIED,
            actor=actor,
            object_type="retention_policy",
            object_id=str(RetentionPolicy.SINGLETON_PK),
            details=details,
        )
    log.info(
        "retention: %s",
        ", ".join(f"{c} {len(report.targets.get(c, []))}" for c in CATEGORIES),
    )
    return report
