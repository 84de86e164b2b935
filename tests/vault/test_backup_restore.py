"""Backup and restore: a data backup plus a separate keys backup bring an instance back whole;
the data backup alone decrypts nothing.

The restored instance is real: a fresh PostgreSQL database, fresh blob and key folders, and
``manage.py`` subprocesses whose settings point only at them.
"""

import hashlib
import io
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from scans.models import FileKind, Scan, ScanFile
from tests.support.accounts import make_user
from tests.support.blobs import random_bytes
from tests.support.workers import ROOT
from vault import get_vault
from vault.backup import BLOBS_FILE, MANIFEST, restore

pytestmark = pytest.mark.django_db(transaction=True)

READ_BACK = """
import hashlib
from scans.models import ScanFile
from vault import VaultError, get_vault
row = ScanFile.objects.get(id="{file_id}")
try:
    print("sha256", hashlib.sha256(get_vault().read_bytes(row.vault_object)).hexdigest())
except VaultError as error:
    print("cannot decrypt:", type(error).__name__)
"""


def run_backup(*args: str) -> str:
    out = io.StringIO()
    call_command("backup", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


class Instance:
    """A second gateway instance: its own database, data folder, blobs and keys."""

    def __init__(self, root: Path, database: str) -> None:
        db = connection.settings_dict
        self.admin_url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres"
        self.database = database
        self.data_dir = root / "data"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VAULT_", "KEYS_DIR", "DEID_", "ATTESTATION_", "AUDIT_"))
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="tests.settings",
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{database}",
            DATA_DIR=str(self.data_dir),
            PYTHONPATH=str(ROOT),
        )

    def create(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def read_back(self, file_id: uuid.UUID) -> str:
        result = self.manage("shell", "-c", READ_BACK.format(file_id=file_id))
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def new_instance(tmp_path: Path) -> Iterator[callable]:
    made: list[Instance] = []

    def make(label: str) -> Instance:
        instance = Instance(tmp_path / label, f"gateway_restore_{os.getpid()}_{label}")
        instance.drop()
        instance.create()
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.drop()


@pytest.fixture
def stored_scan(blob_dir) -> tuple[ScanFile, bytes]:
    """A scan with one sealed file, committed (pg_dump only sees committed rows)."""
    content = random_bytes(3 * 1024 * 1024 + 77, seed=42)
    info = get_vault().put_bytes(content)
    scan = Scan.objects.create(owner=make_user("backup@example.org"))
    row = ScanFile.objects.create(
        scan=scan, position=0, kind=FileKind.choices[0][0], size=info.size,
        vault_object=info.object_id,
    )  # fmt: skip
    return row, content


@pytest.mark.slow
def test_a_restored_instance_decrypts_the_same_bytes_and_without_keys_it_cannot(
    tmp_path, stored_scan, new_instance
):
    row, content = stored_scan
    data_backup, keys_backup = tmp_path / "backups" / "data", tmp_path / "vaulted" / "keys"

    run_backup(str(data_backup))
    run_backup("--keys-only", str(keys_backup))

    restored = new_instance("withkeys")
    result = restored.manage("restore", str(data_backup), "--keys", str(keys_backup))
    assert result.returncode == 0, result.stderr
    assert "1 blobs" in result.stdout
    assert restored.read_back(row.id) == f"sha256 {hashlib.sha256(content).hexdigest()}"
    keyring = restored.data_dir / "keys" / "vault-keyring.json"
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600

    keyless = new_instance("nokeys")
    assert keyless.manage("init_keys").returncode == 0  # an instance with keys of its own
    refused = keyless.manage("restore", str(data_backup), "--keys", str(keys_backup))
    assert refused.returncode != 0
    assert "differs from the backup" in refused.stderr
    result = keyless.manage("restore", str(data_backup), "--without-keys")
    assert result.returncode == 0, result.stderr
    assert keyless.read_back(row.id) == "cannot decrypt: KeyNotFoundError"


def test_the_data_backup_holds_a_manifest_and_only_ciphertext(tmp_path, stored_scan):
    import json
    import tarfile

    row, content = stored_scan
    run_backup(str(tmp_path / "data"))

    manifest = json.loads((tmp_path / "data" / MANIFEST).read_text())
    assert manifest["counts"]["blobs"] == 1
    assert manifest["counts"]["scans"] == 1
    assert set(manifest["files"]) == {"database.pgdump", BLOBS_FILE}
    with tarfile.open(tmp_path / "data" / BLOBS_FILE) as archive:
        [member] = archive.getmembers()
        sealed = archive.extractfile(member).read()
    assert member.name == row.vault_object.hex
    assert content[:4096] not in sealed
    assert not any((tmp_path / "data").glob("*.key"))


def test_keys_are_backed_up_as_private_files(tmp_path, settings):
    names = run_backup("--keys-only", str(tmp_path / "keys"))

    assert "vault-keyring.json" in names
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


@pytest.mark.parametrize("where", ["same folder", "inside it", "around it"])
def test_keys_are_never_written_where_a_data_backup_is(tmp_path, blob_dir, where):
    run_backup(str(tmp_path / "backup"))
    target = {
        "same folder": tmp_path / "backup",
        "inside it": tmp_path / "backup" / "keys",
        "around it": tmp_path,
    }[where]

    with pytest.raises(CommandError, match=r"apart|not empty"):
        run_backup("--keys-only", str(target))


def test_a_data_backup_is_never_written_inside_a_keys_backup(tmp_path):
    run_backup("--keys-only", str(tmp_path / "keys"))

    with pytest.raises(CommandError, match="keys backup"):
        run_backup(str(tmp_path / "keys" / "data"))


def test_restoring_into_an_instance_that_holds_scans_is_refused(tmp_path, stored_scan):
    run_backup(str(tmp_path / "data"))
    run_backup("--keys-only", str(tmp_path / "keys"))

    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(tmp_path / "data"), "--keys", str(tmp_path / "keys"))


def test_a_backup_file_altered_after_the_fact_is_refused_before_anything_changes(
    tmp_path, stored_scan
):
    run_backup(str(tmp_path / "data"))
    archive = tmp_path / "data" / BLOBS_FILE
    altered = bytearray(archive.read_bytes())
    altered[700] ^= 1
    archive.write_bytes(bytes(altered))

    with pytest.raises(Exception, match="does not match the manifest"):
        restore(tmp_path / "data", None, force=True)
    assert get_vault().read_bytes(stored_scan[0].vault_object) == stored_scan[1]
