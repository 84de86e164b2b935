"""Receipts: one entry's proof of inclusion under a signed head, checkable with nothing but the
receipt and the public key (RECEIPTS.md)."""

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command

from audit import merkle
from audit.log import append, public_key_pem, receipt_for, sign_head
from audit.models import SignedTreeHead

REPO = Path(__file__).resolve().parents[2]
USER = "u-3f2a9c0d1e4b5a6f7c8d"


def build_receipt(key: Ed25519PrivateKey, index: int = 3, size: int = 7) -> dict:
    """A receipt built by hand from the library alone, as a reviewer could."""
    entries = [
        merkle.canonical_json({"seq": i, "action": "consent.given", "actor": USER, "details": {}})
        for i in range(size)
    ]
    leaves = [merkle.leaf_hash(e.encode()) for e in entries]
    sth = merkle.sign_tree_head(size, merkle.root_hash(leaves), 1_700_000_000_000, key)
    return merkle.make_receipt(entries[index], index, merkle.inclusion_proof(index, leaves), sth)


def resign(receipt: dict, key: Ed25519PrivateKey, root: bytes) -> None:
    head = receipt["tree_head"]
    sth = merkle.sign_tree_head(head["tree_size"], root, head["timestamp"], key)
    receipt["tree_head"] = sth.to_json()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_a_hand_built_receipt_verifies(key):
    verdict = merkle.verify_receipt(build_receipt(key), key.public_key())
    assert verdict.ok, verdict.reason


def test_a_receipt_with_an_altered_entry_field_fails(key):
    receipt = build_receipt(key)
    entry = json.loads(receipt["entry"])
    entry["action"] = "consent.withdrawn"
    receipt["entry"] = merkle.canonical_json(entry)
    verdict = merkle.verify_receipt(receipt, key.public_key())
    assert not verdict.ok
    assert "not included" in verdict.reason


def test_a_receipt_with_a_non_canonical_entry_fails(key):
    receipt = build_receipt(key)
    receipt["entry"] = json.dumps(json.loads(receipt["entry"]), indent=1)
    assert not merkle.verify_receipt(receipt, key.public_key()).ok


def test_a_receipt_with_an_altered_proof_fails(key):
    receipt = build_receipt(key)
    first = receipt["inclusion_proof"][0]
    receipt["inclusion_proof"][0] = ("0" if first[0] != "0" else "1") + first[1:]
    assert not merkle.verify_receipt(receipt, key.public_key()).ok
    receipt = build_receipt(key)
    receipt["inclusion_proof"].pop()
    assert not merkle.verify_receipt(receipt, key.public_key()).ok


def test_a_receipt_moved_to_another_leaf_index_fails(key):
    receipt = build_receipt(key)
    receipt["leaf_index"] = 4
    assert not merkle.verify_receipt(receipt, key.public_key()).ok


def test_a_receipt_with_a_forged_head_signature_fails(key):
    receipt = build_receipt(key)
    receipt["tree_head"]["signature"] = base64.b64encode(bytes(64)).decode()
    verdict = merkle.verify_receipt(receipt, key.public_key())
    assert not verdict.ok
    assert "signature" in verdict.reason


def test_a_receipt_signed_by_another_key_fails(key):
    impostor = Ed25519PrivateKey.generate()
    receipt = build_receipt(impostor)
    assert not merkle.verify_receipt(receipt, key.public_key()).ok
    receipt["tree_head"]["key_id"] = merkle.key_id(key.public_key())
    assert not merkle.verify_receipt(receipt, key.public_key()).ok


def test_a_genuine_head_for_another_root_fails(key):
    receipt = build_receipt(key)
    resign(receipt, key, merkle.leaf_hash(b"some other tree"))
    verdict = merkle.verify_receipt(receipt, key.public_key())
    assert not verdict.ok
    assert "not included" in verdict.reason


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.pop("tree_head"),
        lambda r: r.update(format="something-else/9"),
        lambda r: r.update(leaf_index="3"),
        lambda r: r.update(entry={"seq": 3}),
        lambda r: r["inclusion_proof"].append("zz"),
        lambda r: r["tree_head"].update(root_hash="abcd"),
        lambda r: r["tree_head"].update(signature="not base64!"),
        lambda r: r["tree_head"].update(tree_size=-1),
    ],
)
def test_a_malformed_receipt_is_a_failed_verdict_not_an_exception(key, damage):
    receipt = copy.deepcopy(build_receipt(key))
    damage(receipt)
    assert not merkle.verify_receipt(receipt, key.public_key()).ok


# --- Receipts from the real log, checked offline ----------------------------------------------


def run_cli(receipt: Path, public_key: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}  # no DJANGO_SETTINGS_MODULE
    command = ["-m", "audit.merkle", "verify-receipt", str(receipt), str(public_key)]
    return subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )


def test_the_library_imports_without_django():
    code = (
        "import sys, audit.merkle; "
        "sys.exit(any(m.startswith('django') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False)
    assert result.returncode == 0


@pytest.mark.django_db
def test_a_receipt_from_the_log_verifies_offline_and_fails_when_altered(
    signing_key, public_pem_file, tmp_path
):
    append("consent.requested", actor="system", object_type="scan", object_id="1234")
    entry = append("consent.given", actor=USER, object_type="scan", object_id="1234")
    append("send.attempt", actor="worker", object_type="scan", object_id="1234")
    receipt = receipt_for(entry)
    assert receipt["leaf_index"] == 1
    assert receipt["tree_head"]["tree_size"] == 3  # no head covered it yet: one was signed

    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(receipt))
    result = run_cli(good, public_pem_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: entry 1 is included in the tree of size 3")

    altered = copy.deepcopy(receipt)
    altered["entry"] = altered["entry"].replace("consent.given", "consent.withdrawn")
    (tmp_path / "altered.json").write_text(json.dumps(altered))
    result = run_cli(tmp_path / "altered.json", public_pem_file)
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED: ")

    forged = copy.deepcopy(receipt)
    forged["tree_head"]["signature"] = base64.b64encode(bytes(64)).decode()
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert run_cli(tmp_path / "forged.json", public_pem_file).returncode == 1


@pytest.mark.django_db
def test_a_receipt_uses_the_latest_head_that_covers_the_entry(signing_key):
    entry = append("consent.given", actor=USER)
    append("consent.withdrawn", actor=USER)
    sign_head()
    assert receipt_for(entry)["tree_head"]["tree_size"] == 2
    assert SignedTreeHead.objects.count() == 1
    key = merkle.load_public_key_pem(public_key_pem().encode())
    assert merkle.verify_receipt(receipt_for(entry), key).ok


@pytest.mark.django_db
def test_the_verify_receipt_command_gives_a_one_line_verdict(
    signing_key, public_pem_file, tmp_path, capsys
):
    receipt = receipt_for(append("answer.viewed", actor=USER))
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    call_command("verify_receipt", str(path), "--public-key", str(public_pem_file))
    assert capsys.readouterr().out.startswith("OK: entry 0 is included")

    receipt["entry"] = receipt["entry"].replace("answer.viewed", "answer.deleted")
    path.write_text(json.dumps(receipt))
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_receipt", str(path))  # default: this gateway's own public key
    assert exit_info.value.code == 1
    assert capsys.readouterr().out.startswith("FAILED: ")
