"""What the auditor area reads from the log: filtered events, one scan's trail, the chain status.

Pages, exports and the API all go through these functions, so a filter means the same thing
everywhere and an export holds exactly the rows the page listed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.log import LogVerdict, events, verify_log
from audit.models import AuditEntry

# The object types of one case's life (upload to deletion), and the details keys under which
# an entry names the case it belongs to: the scan, consent and sending code write ``scan_id``,
# ``request_id``, ``consent_id`` and ``answer_id``; previews write ``scan``. Other keys that hold
# ids (``endpoint_id``) are shared by many cases and are never followed.
# A study from the clinic's PACS and an answer's share with the clinic belong to the case too.
CASE_OBJECT_TYPES = ("scan", "consent_request", "consent", "answer", "study", "share")
CASE_DETAIL_KEYS = (
    "scan_id", "request_id", "consent_id", "answer_id", "scan", "consent", "answer",
)
# Answer -> consent -> scan -> every consent request and consent of that scan: three hops, and
# one more to see that nothing new turned up.
TRAIL_HOPS = 4
TRAIL_MAX_ENTRIES = 2000

VERDICT_CACHE_KEY = "audit:chain-verdict"
# Checking the chain reads every entry, so the page reuses a recent result (and says how old it
# is); the "verify again" button and the API always check afresh.
VERDICT_MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class EventFilter:
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    actor: str | None = None
    object_id: str | None = None
    outcome: str | None = None

    def as_details(self) -> dict[str, Any]:
        """The filter as audit details (times as epoch milliseconds), for ``audit.exported``."""
        details: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, datetime):
                details[f"filter_{name}_ms"] = int(value.timestamp() * 1000)
            elif value is not None:
                details[f"filter_{name}"] = value
        return details


def matching_events(f: EventFilter) -> QuerySet[AuditEntry]:
    """Entries that pass every set filter, in log order."""
    qs = events(actor=f.actor, action=f.action, object_id=f.object_id, since=f.since, until=f.until)
    if f.outcome is not None:
        qs = qs.filter(details__outcome=f.outcome)
    return qs


@dataclass(frozen=True)
class Trail:
    entries: list[AuditEntry]
    ids: frozenset[str]
    truncated: bool


def _touching(ids: set[str]) -> Q:
    query = Q(object_id__in=ids)
    for key in CASE_DETAIL_KEYS:
        query |= Q(**{f"details__{key}__in": sorted(ids)})
    return query


def _linked_ids(entry: AuditEntry) -> set[str]:
    linked = set()
    if entry.object_type in CASE_OBJECT_TYPES and entry.object_id:
        linked.add(entry.object_id)
    for key in CASE_DETAIL_KEYS:
        value = entry.details.get(key)
        if isinstance(value, str) and value:
            linked.add(value)
    return linked


def trail(object_id: str) -> Trail:
    """Every entry about one case, in log order, starting from its scan, consent or answer id.

    Follows the links the entries themselves record (an entry about a consent that names its
    scan in details, an answer that names its consent), a few hops at most, so a trail started
    from any of the three ids holds the whole story from upload to answer.
    """
    ids = {object_id}
    entries: list[AuditEntry] = []
    for hop in range(TRAIL_HOPS):
        rows = AuditEntry.objects.filter(_touching(ids)).order_by("seq")
        entries = list(rows[: TRAIL_MAX_ENTRIES + 1])
        found = ids.union(*(_linked_ids(entry) for entry in entries))
        if found == ids or hop == TRAIL_HOPS - 1:
            break
        ids = found
    truncated = len(entries) > TRAIL_MAX_ENTRIES
    return Trail(entries[:TRAIL_MAX_ENTRIES], frozenset(ids), truncated)


@dataclass(frozen=True)
class CheckedVerdict:
    verdict: LogVerdict
    checked_at: datetime


def chain_status(*, refresh: bool = False) -> CheckedVerdict:
    """The result of ``verify_log()``, from the last few minutes unless ``refresh`` is set."""
    checked = None if refresh else cache.get(VERDICT_CACHE_KEY)
    if checked is None:
        checked = CheckedVerdict(verify_log(), timezone.now())
        cache.set(VERDICT_CACHE_KEY, checked, VERDICT_MAX_AGE_SECONDS)
    return checked
