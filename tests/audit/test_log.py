"""The audit log as a whole: appending, the details whitelist, the append-only triggers, and
``verify_log`` catching each kind of tampering at the right entry."""

import base64
import itertools
import threading

import pytest
from django.db import DatabaseError, connection, transaction

from audit import merkle
from audit.log import (
    DisallowedAuditValue,
    LogBrokenError,
    append,
    events,
    sign_head,
    verify_log,
)
from audit.models import AuditEntry, SignedTreeHead
from tests.support.tampering import tamper

USER = "u-3f2a9c0d1e4b5a6f7c8d"
SCAN = "0b6f7c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e"

pytestmark = pytest.mark.django_db


def fill(n: int) -> list[AuditEntry]:
    return [
        append("scan.uploaded", actor=USER, object_type="scan", object_id=SCAN, details={"n": i})
        for i in range(n)
    ]


def test_entries_form_a_gapless_hash_chain_from_zero():
    entries = fill(4)
    assert [e.seq for e in entries] == [0, 1, 2, 3]
    assert entries[0].prev_hash == ""
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.leaf_hash
    stored = AuditEntry.objects.get(seq=2)
    expected = merkle.leaf_hash(stored.canonical_json().encode()).hex()
    assert stored.leaf_hash == expected


def test_details_accept_ids_hashes_counts_statuses_and_enums():
    entry = append(
        "send.outcome",
        actor="worker",
        object_type="scan",
        object_id=SCAN,
        details={
            "status": 502,
            "ok": False,
            "retry": None,
            "outcome": "http_error",
            "sha256": "ab" * 32,
            "scan": SCAN,
            "patient": USER,
            "files": [SCAN, "cd" * 32],
        },
    )
    assert AuditEntry.objects.get(seq=entry.seq).details["status"] == 502


@pytest.mark.parametrize(
    "details",
    [
        {"note": "Patient John Smith, DOB 1970-01-01"},
        {"note": "has cancer"},
        {"note": "ok\n"},
        {"name": "Smith"},
        {"ratio": 0.5},
        {"nested": {"status": "ok"}},
        {"list": ["free text here"]},
        {"Bad Key": 1},
        {"huge": 2**60},
    ],
)
def test_details_refuse_free_text_and_anything_else_off_the_whitelist(details):
    with pytest.raises(DisallowedAuditValue):
        append("scan.uploaded", actor=USER, details=details)
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"actor": "jane.doe@example.org"},
        {"actor": USER, "object_id": "John Smith"},
        {"actor": USER, "object_type": "Scan Of Jane"},
    ],
)
def test_actor_and_object_fields_refuse_anything_but_pseudonyms_and_ids(fields):
    with pytest.raises(DisallowedAuditValue):
        append("scan.uploaded", **fields)


def test_the_error_message_never_quotes_the_refused_value():
    with pytest.raises(DisallowedAuditValue) as caught:
        append("scan.uploaded", actor=USER, details={"note": "Jane Roe"})
    assert "Jane" not in str(caught.value)


def test_events_filter_by_actor_action_family_and_object():
    append("consent.requested", actor="system", object_type="scan", object_id=SCAN)
    append("consent.given", actor=USER, object_type="scan", object_id=SCAN)
    append("scan.deleted", actor=USER, object_type="scan", object_id="1234")
    assert [e.action for e in events(action="consent.")] == ["consent.requested", "consent.given"]
    assert [e.seq for e in events(actor=USER)] == [1, 2]
    assert [e.seq for e in events(object_type="scan", object_id=SCAN)] == [0, 1]


# --- The database refuses UPDATE and DELETE ---------------------------------------------------


def refused(action) -> bool:
    try:
        with transaction.atomic():
            action()
    except DatabaseError:
        return True
    return False


def raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_the_database_refuses_to_update_or_delete_entries_through_the_orm(signing_key):
    entry = fill(2)[1]
    entry.actor = "system"
    assert refused(lambda: entry.save())
    assert refused(lambda: AuditEntry.objects.filter(seq=1).update(actor="system"))
    assert refused(lambda: entry.delete())
    assert refused(lambda: AuditEntry.objects.all().delete())
    assert AuditEntry.objects.get(seq=1).actor == USER
    assert verify_log().ok


def test_the_database_refuses_to_update_or_delete_entries_through_raw_sql():
    fill(2)
    update = "UPDATE audit_auditentry SET actor = 'system' WHERE seq = %s"
    assert refused(lambda: raw(update, [1]))
    assert refused(lambda: raw("DELETE FROM audit_auditentry WHERE seq = %s", [1]))
    assert AuditEntry.objects.count() == 2


def test_the_database_refuses_to_update_or_delete_signed_heads(signing_key):
    fill(1)
    head = sign_head()
    assert refused(lambda: SignedTreeHead.objects.filter(pk=head.pk).update(tree_size=9))
    assert refused(lambda: head.delete())
    assert refused(lambda: raw("DELETE FROM audit_signedtreehead WHERE id = %s", [head.pk]))
    assert SignedTreeHead.objects.get(pk=head.pk).tree_size == 1


# --- verify_log -------------------------------------------------------------------------------


def test_a_fresh_log_verifies(signing_key):
    assert verify_log() == verify_log()
    assert verify_log().ok and verify_log().entries == 0
    fill(5)
    sign_head()
    fill(2)
    verdict = verify_log()
    assert verdict.ok
    assert verdict.entries == 7
    assert verdict.head["tree_size"] == 5
    assert verdict.first_bad is None
    assert "2 newest entries not yet signed" in verdict.reason


def test_an_edited_entry_is_reported_at_its_seq(signing_key):
    fill(6)
    sign_head()
    tamper(("UPDATE audit_auditentry SET actor = 'system' WHERE seq = %s", [3]))
    verdict = verify_log()
    assert not verdict.ok
    assert verdict.first_bad == 3
    assert "leaf hash" in verdict.reason


def test_a_deleted_entry_is_reported_at_its_seq(signing_key):
    fill(6)
    tamper(("DELETE FROM audit_auditentry WHERE seq = %s", [2]))
    verdict = verify_log()
    assert (verdict.ok, verdict.first_bad) == (False, 2)
    assert "missing" in verdict.reason


def test_two_swapped_entries_are_reported_at_the_first_of_them(signing_key):
    fill(6)
    sql = "UPDATE audit_auditentry SET seq = %s WHERE seq = %s"
    tamper((sql, [-1, 2]), (sql, [2, 4]), (sql, [4, -1]))
    verdict = verify_log()
    assert (verdict.ok, verdict.first_bad) == (False, 2)


def test_a_cut_tail_after_a_signed_head_is_reported_at_the_first_missing_seq(signing_key):
    fill(6)
    sign_head()
    tamper(("DELETE FROM audit_auditentry WHERE seq >= %s", [4]))
    verdict = verify_log()
    assert (verdict.ok, verdict.first_bad) == (False, 4)
    assert "covers 6 entries but the log has 4" in verdict.reason
    with pytest.raises(LogBrokenError):
        sign_head()


def test_a_forged_head_signature_is_reported_from_the_last_trustworthy_head(signing_key):
    fill(3)
    sign_head()
    fill(3)
    forged = sign_head()
    fill(1)
    sign_head()
    bogus = base64.b64encode(bytes(64)).decode()
    tamper(("UPDATE audit_signedtreehead SET signature = %s WHERE id = %s", [bogus, forged.pk]))
    verdict = verify_log()
    assert (verdict.ok, verdict.first_bad) == (False, 3)
    assert "size 6 has an invalid signature" in verdict.reason


def test_a_rewritten_history_with_recomputed_hashes_is_caught_by_the_signed_head(signing_key):
    fill(4)
    sign_head()
    fill(4)
    sign_head()
    # The attacker rewrites entry 5 and re-chains every hash after it, but cannot re-sign.
    statements = []
    prev = AuditEntry.objects.get(seq=4).leaf_hash
    for entry in AuditEntry.objects.filter(seq__gte=5):
        if entry.seq == 5:
            entry.actor = "system"
        entry.prev_hash = prev
        prev = entry.compute_leaf_hash()
        statements.append(
            (
                "UPDATE audit_auditentry SET actor = %s, prev_hash = %s, leaf_hash = %s "
                "WHERE seq = %s",
                [entry.actor, entry.prev_hash, prev, entry.seq],
            )
        )
    tamper(*statements)
    verdict = verify_log()
    assert (verdict.ok, verdict.first_bad) == (False, 4)
    assert "do not match their signed head" in verdict.reason
    with pytest.raises(LogBrokenError):
        sign_head()


# --- Concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's in-memory test database is per thread"
)
def test_concurrent_appends_from_several_threads_form_one_gapless_chain(signing_key):
    workers, per_worker = 4, 15
    start = threading.Barrier(workers)
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(per_worker):
                append("send.attempt", actor="worker", details={"worker": worker, "i": i})
        except BaseException as exc:  # reported below; a thread's exception is otherwise lost
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(workers * per_worker))
    sign_head()
    assert verify_log().ok


@pytest.mark.django_db
def test_the_periodic_anchor_signs_only_when_the_log_has_grown(signing_key):
    from audit.log import append, sign_head_if_grown
    from audit.models import SignedTreeHead

    append("scan.uploaded", actor="system")
    assert sign_head_if_grown() is not None
    assert sign_head_if_grown() is None
    append("scan.deleted", actor="system")
    head = sign_head_if_grown()
    assert head is not None and head.tree_size == 2
    assert SignedTreeHead.objects.count() == 2
