"""A consent's state machine: one table, one function, every change with its time."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from scans import sending
from scans.consent import states
from scans.models import Consent, ConsentState, Scan, Status
from tests.support.consent import give_consent

pytestmark = pytest.mark.django_db


class SteppingClock:
    """Each call is one second after the last, so every change has a time of its own."""

    def __init__(self) -> None:
        self.last = timezone.now()

    def now(self) -> datetime:
        self.last += timedelta(seconds=1)
        return self.last


def test_only_active_and_sending_lead_anywhere():
    movable = {state for state, targets in states.ALLOWED.items() if targets}
    assert movable == {ConsentState.ACTIVE, ConsentState.SENDING}
    assert set(states.ALLOWED) == set(ConsentState.values)


def test_a_change_the_table_does_not_allow_is_refused_loudly():
    with pytest.raises(states.IllegalConsentTransition):
        states.transition(uuid.uuid4(), ConsentState.SENT, expected={ConsentState.ACTIVE})


def test_a_change_is_made_once_and_records_its_time(client, patient, study, endpoint, monkeypatch):
    """GIVEN an active consent WHEN it is withdrawn twice THEN only the first call changes it,
    and the change carries its own time."""
    consent = give_consent(client, patient, study, endpoint)
    clock = SteppingClock()
    monkeypatch.setattr(states, "timezone", clock)

    assert states.transition(consent.pk, ConsentState.WITHDRAWN) is True
    withdrawn_at = clock.last
    assert states.transition(consent.pk, ConsentState.WITHDRAWN) is False

    consent.refresh_from_db()
    assert consent.state == ConsentState.WITHDRAWN
    assert consent.state_changed_at == withdrawn_at


def test_a_claim_refused_because_the_scan_moved_on_records_when_it_was_refused(
    client, patient, study, endpoint, monkeypatch
):
    """GIVEN a consent whose scan is no longer consented WHEN a sender claims it THEN it is
    refused, and its state time is the refusal's (the sweeper reads it), not the claim's."""
    consent = give_consent(client, patient, study, endpoint)
    Scan.objects.filter(pk=consent.scan_id).update(status=Status.READY_FOR_REVIEW)
    clock = SteppingClock()
    monkeypatch.setattr(states, "timezone", clock)

    assert sending.claim(consent) is None

    refused = Consent.objects.get(pk=consent.pk)
    assert refused.state == ConsentState.REFUSED
    assert refused.failure_reason == "scan_not_consented"
    assert refused.state_changed_at == clock.last
