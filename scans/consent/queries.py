"""Looking up consent requests and consents for their owner: anything else is a 404."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from forwarding.models import Endpoint
from scans.models import Consent, ConsentRequest, Status


def requests_of(user: User) -> QuerySet[ConsentRequest]:
    return ConsentRequest.objects.filter(scan__owner=user).exclude(scan__status=Status.DELETED)


def request_of(user: User, request_id: uuid.UUID | str) -> ConsentRequest:
    found = requests_of(user).select_related("scan", "endpoint").filter(pk=request_id).first()
    if found is None:
        raise Http404("No such consent request.")
    return found


def consent_of(user: User, consent_id: uuid.UUID | str) -> Consent:
    found = (
        Consent.objects.filter(pk=consent_id, scan__owner=user)
        .exclude(scan__status=Status.DELETED)
        .select_related("scan")
        .first()
    )
    if found is None:
        raise Http404("No such consent.")
    return found


def enabled_endpoints() -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(enabled=True)
