"""The auditor's JSON API (mounted at /api/v1/audit by gateway.api): events, verification, exports.

Bearer tokens skip the pages' MFA middleware, so the rule is enforced here: only auditors and
clinic admins who have set up two-factor authentication may read the log through the API.
Filters mean exactly what they mean on the pages (``audit.forms``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from django.http import HttpRequest, StreamingHttpResponse
from django.utils.translation import gettext_noop
from ninja import Field, Query, Router, Schema

from accounts.models import Role, User
from accounts.roles import has_mfa
from audit.downloads import FORMATS, export_download
from audit.forms import EventFilterForm
from audit.models import AuditEntry
from audit.reading import EventFilter, chain_status, matching_events

router = Router(tags=["audit"])

AUDIT_ROLES = (Role.AUDITOR, Role.CLINIC_ADMIN)


class Refused(Exception):
    """A refusal of the audit API: a stable ``code`` for programs, the HTTP ``status``, and an
    English sentence marked for translation. ``gateway.api`` words it in the client's language,
    in the one error shape of every API (the audit app sits below the scans app, so it cannot
    use the scans app's refusal)."""

    def __init__(
        self, status: int, code: str, message: str, values: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.values = values or {}

    def words(self, translate: Callable[[str], str]) -> str:
        return translate(self.message) % self.values if self.values else translate(self.message)


class Error(Schema):
    code: str
    detail: str


class EventOut(Schema):
    seq: int
    at: str = Field(description="UTC with microseconds, exactly as the leaf hash covers it")
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    leaf_hash: str


class EventPage(Schema):
    count: int = Field(description="Entries matching the filter, over all pages")
    limit: int
    offset: int
    items: list[EventOut]


class HeadOut(Schema):
    tree_size: int
    root_hash: str
    timestamp: int = Field(description="Milliseconds since the Unix epoch, as signed")
    signed_at: str
    key_id: str


class VerifyOut(Schema):
    ok: bool
    entries: int
    head: HeadOut | None = Field(description="The latest signed tree head")
    first_bad: int | None
    reason: str


class EventQuery(Schema):
    since: str | None = Field(None, description="A date (YYYY-MM-DD) or an ISO 8601 time")
    until: str | None = Field(
        None, description="A date (inclusive) or an ISO 8601 time (exclusive)"
    )
    action: str | None = Field(None, description='One action, or a family such as "consent."')
    actor: str | None = Field(None, description="A pseudonym, or system/worker/beat/cli")
    object_id: str | None = None
    outcome: str | None = Field(None, description='Entries whose details have this "outcome"')


class PageQuery(EventQuery):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class ExportQuery(EventQuery):
    format: Literal["csv", "jsonl", "fhir"] = "csv"


def auditor_of(request: HttpRequest) -> User:
    user = getattr(request, "auth", None)
    if not isinstance(user, User) or user.role not in AUDIT_ROLES:
        raise Refused(
            403,
            "auditors_only",
            gettext_noop("Only auditor and clinic admin accounts may read the audit log."),
        )
    if not has_mfa(user):
        raise Refused(
            403,
            "mfa_required",
            gettext_noop("Set up two-factor authentication before using this account."),
        )
    return user


def event_filter(query: EventQuery) -> EventFilter:
    fields = ("since", "until", "action", "actor", "object_id", "outcome")
    form = EventFilterForm({name: getattr(query, name) or "" for name in fields})
    if not form.is_valid():
        raise Refused(
            400,
            "invalid_request",
            gettext_noop("The request is not valid; check %(error)s"),
            {"error": str(form.first_error())},
        )
    return form.event_filter()


def event_out(entry: AuditEntry) -> dict[str, Any]:
    return {**entry.canonical_fields(), "leaf_hash": entry.leaf_hash}


ERRORS = {400: Error, 401: Error, 403: Error}


@router.get(
    "/events",
    response={200: EventPage, **ERRORS},
    summary="Audit entries, in log order",
    description="Oldest first, so offsets stay stable while the log grows. Each item has the "
    "fields its leaf hash covers, so a client can recompute it.",
)
def list_events(request: HttpRequest, query: Query[PageQuery]):
    auditor_of(request)
    qs = matching_events(event_filter(query))
    items = qs[query.offset : query.offset + query.limit]
    return {
        "count": qs.count(),
        "limit": query.limit,
        "offset": query.offset,
        "items": [event_out(entry) for entry in items],
    }


@router.get(
    "/verify",
    response={200: VerifyOut, 401: Error, 403: Error},
    summary="Check the whole chain and the signed tree heads now",
)
def verify(request: HttpRequest):
    auditor_of(request)
    verdict = chain_status(refresh=True).verdict
    return {
        "ok": verdict.ok,
        "entries": verdict.entries,
        "head": verdict.head,
        "first_bad": verdict.first_bad,
        "reason": verdict.reason,
    }


@router.get(
    "/export",
    response={200: None, **ERRORS},
    summary="Download the filtered log as CSV, JSON Lines or a FHIR R4 Bundle",
    description="Oldest first. The export is itself recorded in the log (audit.exported, with "
    "the format, row count and filter).",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, as an attachment",
                "content": {
                    kind.content_type.split(";")[0]: {"schema": {"type": "string"}}
                    for kind in FORMATS.values()
                },
            }
        }
    },
)
def export(request: HttpRequest, query: Query[ExportQuery]) -> StreamingHttpResponse:
    user = auditor_of(request)
    return export_download(event_filter(query), query.format, actor=user.pseudonym)
