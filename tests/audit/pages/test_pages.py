"""The auditor's pages: the events list and its filters, a case's trail, the chain's status."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.log import append, sign_head
from audit.models import AuditEntry
from tests.support.auditing import logged_seqs
from tests.support.tampering import tamper

pytestmark = pytest.mark.django_db

SEQ_CELL = re.compile(r"<tr data-seq=\"(\d+)\"")


def listed(response) -> list[int]:
    """The seq numbers of the entries a page lists, in the order shown."""
    return [int(seq) for seq in SEQ_CELL.findall(response.content.decode())]


def test_an_auditor_sees_every_event_newest_first(auditor_client, case):
    response = auditor_client.get("/audit/")
    assert response.status_code == 200
    assert listed(response) == logged_seqs()[::-1]
    assert set(case.case_seqs) <= set(listed(response))
    page = response.content.decode()
    assert case.patient.pseudonym in page
    assert "scan.uploaded" in page


def test_a_clinic_admin_sees_the_events_too(client, clinic_admin, case):
    client.force_login(clinic_admin)
    assert listed(client.get("/audit/")) == logged_seqs()[::-1]


def test_an_action_family_keeps_only_that_family(auditor_client, case):
    seqs = listed(auditor_client.get("/audit/", {"action": "answer."}))
    assert seqs == case.case_seqs[-1:-3:-1]
    # A family may be given without its dot.
    assert listed(auditor_client.get("/audit/", {"action": "answer"})) == seqs


def test_one_action_keeps_only_that_action(auditor_client, case):
    entries = AuditEntry.objects.filter(action="scan.sent").order_by("-seq")
    response = auditor_client.get("/audit/", {"action": "scan.sent"})
    assert listed(response) == [entry.seq for entry in entries]


def test_the_actor_filter_keeps_one_pseudonym(auditor_client, case):
    seqs = listed(auditor_client.get("/audit/", {"actor": case.patient.pseudonym}))
    mine = AuditEntry.objects.filter(actor=case.patient.pseudonym).order_by("-seq")
    assert seqs == [entry.seq for entry in mine]
    assert len(seqs) == 4  # signed in, uploaded, consented, read the answer


def test_the_object_id_filter_keeps_entries_about_that_object(auditor_client, case):
    seqs = listed(auditor_client.get("/audit/", {"object_id": case.other_scan.upper()}))
    assert len(seqs) == 2
    assert all(AuditEntry.objects.get(seq=seq).object_id == case.other_scan for seq in seqs)


def test_the_outcome_filter_looks_into_details(auditor_client, case):
    failed = listed(auditor_client.get("/audit/", {"outcome": "http_error"}))
    assert failed == [AuditEntry.objects.get(details__status=502).seq]
    combined = auditor_client.get("/audit/", {"outcome": "ok", "action": "scan."})
    assert len(listed(combined)) == 1


def test_a_date_range_includes_the_last_day_and_excludes_other_days(auditor_client, case):
    today = timezone.now().date()
    same_day = {"since": today.isoformat(), "until": today.isoformat()}
    assert listed(auditor_client.get("/audit/", same_day)) == logged_seqs()[::-1]
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert listed(auditor_client.get("/audit/", {"since": tomorrow})) == []
    yesterday = (today - timedelta(days=1)).isoformat()
    assert listed(auditor_client.get("/audit/", {"until": yesterday})) == []


def test_a_malformed_filter_is_refused_with_a_message_not_run(auditor_client, case):
    response = auditor_client.get("/audit/", {"actor": "Jane Doe", "since": "yesterday"})
    assert response.status_code == 400
    assert listed(response) == []
    page = response.content.decode()
    assert "Not a pseudonym." in page
    assert "Use a date (YYYY-MM-DD)" in page


def test_the_list_is_paginated_and_pages_keep_the_filter(auditor_client):
    seqs = [append("scan.uploaded", actor="system", details={"n": n}).seq for n in range(60)]
    append("auth.sign_in_failed", actor="system")
    first = auditor_client.get("/audit/", {"action": "scan."})
    assert listed(first) == seqs[:9:-1]
    assert 'href="?action=scan.&amp;page=2"' in first.content.decode()
    second = auditor_client.get("/audit/", {"action": "scan.", "page": 2})
    assert listed(second) == seqs[9::-1]


def test_the_trail_of_a_scan_shows_its_case_from_upload_to_answer_in_order(auditor_client, case):
    response = auditor_client.get("/audit/trail/", {"id": str(case.scan.id)})
    assert response.status_code == 200
    seqs = listed(response)
    assert seqs == case.case_seqs
    actions = [AuditEntry.objects.get(seq=seq).action for seq in seqs]
    assert actions[0] == "scan.uploaded"
    assert actions[-1] == "answer.viewed"


@pytest.mark.parametrize("start", ["consent", "answer"])
def test_the_trail_from_a_consent_or_answer_id_is_the_same_whole_case(auditor_client, case, start):
    response = auditor_client.get("/audit/trail/", {"id": getattr(case, start)})
    assert listed(response) == case.case_seqs


def test_the_trail_form_refuses_something_that_is_not_an_id(auditor_client, case):
    response = auditor_client.get("/audit/trail/", {"id": "Jane Doe"})
    assert response.status_code == 200
    assert "Not an id." in response.content.decode()
    assert listed(response) == []


def test_verification_shows_ok_and_the_latest_signed_head_on_a_clean_log(auditor_client, case):
    head = sign_head()
    page = auditor_client.get("/audit/verify/").content.decode()
    assert '<dd data-field="ok">ok</dd>' in page
    assert f'<dd data-field="entries">{len(logged_seqs())}</dd>' in page
    assert f'<dd data-field="tree_size">{head.tree_size} entries</dd>' in page
    assert head.root_hash in page
    assert head.key_id in page
    assert 'href="/audit/public-key.pem"' in page


def test_verifying_again_after_tampering_shows_the_first_bad_entry(auditor_client, case):
    sign_head()
    assert '<dd data-field="ok">ok</dd>' in auditor_client.get("/audit/verify/").content.decode()
    consent_given = case.case_seqs[2]
    tamper(("UPDATE audit_auditentry SET actor = 'system' WHERE seq = %s", [consent_given]))

    response = auditor_client.post("/audit/verify/again/", follow=True)
    page = response.content.decode()
    assert response.redirect_chain == [("/audit/verify/", 302)]
    assert '<dd data-field="ok">failed</dd>' in page
    assert f'<dd data-field="first_bad">{consent_given}</dd>' in page
    assert "leaf hash" in page


def test_re_verifying_needs_a_post(auditor_client, case):
    assert auditor_client.get("/audit/verify/again/").status_code == 405


def test_the_public_key_is_open_to_everyone_and_matches_the_signing_key(client):
    from audit.log import public_key_pem

    response = client.get("/audit/public-key.pem")
    assert response.status_code == 200
    assert response.content.decode() == public_key_pem()
    assert response.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert response["Content-Type"] == "application/x-pem-file"


def test_the_action_filter_is_a_list_generated_from_the_code_s_own_actions(auditor_client, case):
    from audit.actions import AuditAction, families

    page = auditor_client.get("/audit/").content.decode()
    start = page.index('<select name="action"')
    select = page[start : page.index("</select>", start)]
    offered = re.findall(r'<option value="([^"]*)"', select)
    assert offered == ["", *[
        value for family in families()
        for value in [f"{family}.", *(a.value for a in AuditAction if a.family == family)]
    ]]


def test_the_date_filters_and_times_say_utc(auditor_client, case):
    page = auditor_client.get("/audit/").content.decode()
    assert "From (UTC date)" in page and "To, inclusive (UTC date)" in page
    assert "Time (UTC)" in page


def test_the_page_documents_the_export_columns_and_fhir_resources(auditor_client, case):
    from audit.export import CSV_COLUMNS

    page = auditor_client.get("/audit/").content.decode()
    for column in CSV_COLUMNS:
        assert f"<code>{column}</code>" in page
    assert "<code>AuditEvent</code>" in page and "<code>Consent</code>" in page
