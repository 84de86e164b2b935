"""Backups of an instance: the data (database and sealed blobs) and, separately, its keys.

Why two backups. Every blob is sealed under a data key that is stored wrapped by the vault's
master keyring; the database holds the wrapped keys. So the data backup alone is ciphertext
nobody can read, and that is the point: it may sit on ordinary backup storage. The keys backup
(the vault keyring, the de-identification, attestation and audit signing keys, the Django secret
key) is what turns it back into patient data. Keep the two apart: different media, different
people, different places. Whoever holds both holds everything; whoever loses the keys has lost
the data for good.

Restore procedure (for the README)::

    # 1. On the old instance, take both backups (to different places):
    manage.py backup /backups/2026-11-29              # database + blobs + manifest.json
    manage.py backup --keys-only /secure/keys-2026-11-29
    # 2. On the new instance: same code version, settings pointing at an EMPTY database and an
    #    empty blob store (a fresh PostgreSQL database; for S3 an empty bucket or prefix), and a
    #    KEYS_DIR without keys (do not run init_keys first, or restore will refuse the
    #    differing keys).
    manage.py restore /backups/2026-11-29 --keys /secure/keys-2026-11-29
    manage.py migrate      # applies migrations newer than the backup, if any
    # 3. Start the services. Check a scan opens; then shred the temporary copies of the keys.

``restore`` checks every file against the manifest's SHA-256 before it changes anything,
refuses a non-empty target unless ``--force`` (which replaces the database and adds the blobs),
and never overwrites a key file that differs from the backup's. PostgreSQL dumps need a
``pg_dump``/``pg_restore`` at least as new as the server (checked). A dump only restores into
the same database engine it came from.

Consistency: on PostgreSQL the dump runs on a snapshot exported from a REPEATABLE READ
transaction, and the list of live vault objects is read in that same snapshot, so the backup
holds exactly the blobs the dumped database refers to (blobs are immutable once written). An
object shredded while the backup runs is reported in the manifest as missing; SQLite is copied
with its online backup API and the object list is read from the copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model

from vault import BlobStore, build_store
from vault.keys import write_secret_file
from vault.models import VaultKey

MANIFEST = "manifest.json"
KEYS_MANIFEST = "keys-manifest.json"
DATA_FORMAT = "scan-gateway-backup/1"
KEYS_FORMAT = "scan-gateway-keys/1"
PG_DUMP_FILE = "database.pgdump"
SQLITE_FILE = "database.sqlite3"
SESSION_TABLES = ("accounts_sealedsession", "django_session")
BLOBS_FILE = "blobs.tar"
_BLOB_NAME = re.compile(r"[0-9a-f]{32}")
_CHUNK = 1024 * 1024

KEYS_WARNING = (
    "WARNING: the data backup is useless without the keys backup, and the keys backup turns the "
    "data backup back into patient data. Store them APART (different media, places, people); "
    "never together, never in the same folder."
)


class BackupError(Exception):
    """A backup or restore that cannot be done safely; nothing was changed when it is raised
    before restore starts writing (all checks run first)."""


@dataclass(frozen=True)
class Holding:
    """Rows an app above the vault keeps: counted in each manifest, and (``marks_in_use``) a
    reason to refuse restoring over this instance."""

    name: str
    model: type[Model]
    marks_in_use: bool


_HOLDINGS: list[Holding] = []


def count_in_backups(name: str, model: type[Model], *, marks_in_use: bool = False) -> None:
    """Called from an app's ``ready()``: the vault knows nothing of the apps that use it."""
    if all(held.name != name for held in _HOLDINGS):
        _HOLDINGS.append(Holding(name, model, marks_in_use))


@dataclass(frozen=True)
class KeyFile:
    """One key file: where it lives in this instance and its name inside a keys backup."""

    name: str
    path: Path


def key_files() -> list[KeyFile]:
    """The instance's key files, as the settings place them."""
    return [
        KeyFile("vault-keyring.json", Path(settings.VAULT_KEYRING_PATH)),
        KeyFile("deid.key", Path(settings.DEID_KEY_PATH)),
        KeyFile("attestation.key", Path(settings.ATTESTATION_KEY_PATH)),
        KeyFile("audit-signing.pem", Path(settings.AUDIT_SIGNING_KEY_PATH)),
        KeyFile("django-secret.key", Path(settings.KEYS_DIR) / "django-secret.key"),
    ]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _overlap(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def _find_marker(start: Path, marker: str, limit: int = 20_000) -> Path | None:
    """A backup marker file in ``start``, any folder above it, or (bounded) below it."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / marker).is_file():
            return folder
    if start.is_dir():
        for seen, (root, _dirs, files) in enumerate(os.walk(start)):
            if marker in files:
                return Path(root)
            if seen > limit:
                break
    return None


def _private_dir(path: Path) -> Path:
    path = path.resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise BackupError(f"{path} is not empty; back up into a new folder")
    return path


def _store() -> BlobStore:
    """The blob store alone: copying sealed blobs needs no keyring (and must work without one)."""
    return build_store(settings.VAULT_BACKEND)


def _versions() -> dict[str, str]:
    try:
        gateway = metadata.version("scan-gateway")
    except metadata.PackageNotFoundError:
        gateway = "unknown"
    return {"gateway": gateway, "django": django.get_version(), "python": platform.python_version()}


# --- database -------------------------------------------------------------------------------


def _engine() -> str:
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise BackupError(f"backups support PostgreSQL and SQLite, not {vendor}")
    return vendor


def _pg_env_and_args() -> tuple[dict[str, str], list[str]]:
    db = connection.settings_dict
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    args = [f"--dbname={db['NAME']}"]
    if db.get("HOST"):
        args.append(f"--host={db['HOST']}")
    if db.get("PORT"):
        args.append(f"--port={db['PORT']}")
    if db.get("USER"):
        args.append(f"--username={db['USER']}")
    return env, args


def _pg_tool(name: str) -> str:
    """The PostgreSQL client tool, refusing one older than the server (it would fail or lose
    data on newer catalogs)."""
    tool = shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    found = re.search(
        r"(\d+)(?:\.\d+)?",
        subprocess.run([tool, "--version"], check=True, capture_output=True, text=True).stdout,
    )
    client_major = int(found.group(1)) if found else 0
    server_major = _server_version() // 10000
    if client_major < server_major:
        raise BackupError(
            f"{name} {client_major} is older than the PostgreSQL {server_major} server; "
            f"install postgresql-client-{server_major}"
        )
    return tool


def _server_version() -> int:
    connection.ensure_connection()
    return int(connection.connection.info.server_version)


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()[-2000:]}")


def _live_object_ids(cursor: Any) -> list[str]:
    cursor.execute(f"SELECT object_id FROM {VaultKey._meta.db_table} ORDER BY object_id")  # noqa: S608
    return [str(row[0]).replace("-", "") for row in cursor.fetchall()]


def _dump_postgresql(target: Path) -> list[str]:
    pg_dump = _pg_tool("pg_dump")
    env, args = _pg_env_and_args()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        object_ids = _live_object_ids(cursor)
        # The snapshot stays valid while this transaction is open.
        _run(
            [
                pg_dump,
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={target}",
                # Sessions are not data to restore: a backup holds no live session.
                *(f"--exclude-table-data={table}" for table in SESSION_TABLES),
                *args,
            ],
            env,
        )
    return object_ids


def _dump_sqlite(target: Path) -> list[str]:
    connection.ensure_connection()
    copy = sqlite3.connect(target)
    try:
        connection.connection.backup(copy)  # a consistent snapshot, even while others write
        for table in SESSION_TABLES:  # a backup holds no live session
            copy.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        copy.commit()
        return _live_object_ids(copy.cursor())
    finally:
        copy.close()


# --- blobs ----------------------------------------------------------------------------------


class _HashingWriter:
    def __init__(self, path: Path) -> None:
        self._file = path.open("xb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._file.write(data)

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def _archive_blobs(target: Path, object_ids: list[str]) -> tuple[int, list[str], str]:
    """Copy each live object's sealed blob, as it is, into a tar; returns (count, missing,
    sha256). Works the same for every store, one blob at a time."""
    store = _store()
    sink = _HashingWriter(target)
    missing: list[str] = []
    count = 0
    try:
        # The stubs want a readable fileobj even for a write-only stream; the sink only writes.
        with tarfile.open(fileobj=sink, mode="w|") as archive:  # type: ignore[call-overload]
            for name in object_ids:
                try:
                    blob = store.open_read(name)
                except FileNotFoundError:
                    missing.append(name)  # shredded after the snapshot
                    continue
                with blob:
                    member = tarfile.TarInfo(name)
                    member.size = store.size(name)
                    member.mode = 0o600
                    archive.addfile(member, blob)
                count += 1
    finally:
        sink.close()
    return count, missing, sink.sha256.hexdigest()


def _counts(object_ids: list[str]) -> dict[str, int]:
    return {
        "vault_objects": len(object_ids),
        **{held.name: held.model._default_manager.count() for held in _HOLDINGS},
    }


def backup_data(output_dir: Path) -> dict:
    """Write the database dump, the live blobs and ``manifest.json`` into a new folder.

    Refuses a folder that is, contains or lies inside a keys backup or the live keys folder.
    Returns the manifest.
    """
    output_dir = Path(output_dir).resolve()
    if _overlap(output_dir, Path(settings.KEYS_DIR)):
        raise BackupError("the data backup must not be inside (or contain) the keys folder")
    if keys_backup := _find_marker(output_dir, KEYS_MANIFEST):
        raise BackupError(f"{keys_backup} holds a keys backup; keep the data backup apart")
    output_dir = _private_dir(output_dir)
    engine = _engine()
    started = datetime.now(UTC)
    if engine == "postgresql":
        database = output_dir / PG_DUMP_FILE
        object_ids = _dump_postgresql(database)
    else:
        database = output_dir / SQLITE_FILE
        object_ids = _dump_sqlite(database)
    blob_count, missing, blobs_sha = _archive_blobs(output_dir / BLOBS_FILE, object_ids)
    manifest: dict[str, Any] = {
        "format": DATA_FORMAT,
        "created_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "versions": _versions(),
        "database": {"engine": engine, "file": database.name},
        "blob_backend": settings.VAULT_BACKEND,
        "counts": {**_counts(object_ids), "blobs": blob_count},
        "missing_blobs": missing,
        "files": {
            database.name: {"size": database.stat().st_size, "sha256": sha256_file(database)},
            BLOBS_FILE: {"size": (output_dir / BLOBS_FILE).stat().st_size, "sha256": blobs_sha},
        },
        "note": KEYS_WARNING,
    }
    if engine == "postgresql":
        manifest["database"]["server_version"] = _server_version()
    _write_json(output_dir / MANIFEST, manifest)
    return manifest


def _write_json(path: Path, doc: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


# --- keys -----------------------------------------------------------------------------------


def backup_keys(output_dir: Path) -> list[str]:
    """Copy every key file into a new private folder (0700, files 0600) with a manifest.

    A keyring given in VAULT_KEYRING (not a file) is written out too, so the keys backup is
    complete. Refuses a folder overlapping a data backup or the live keys folder.
    """
    output_dir = Path(output_dir).resolve()
    if _overlap(output_dir, Path(settings.KEYS_DIR)):
        raise BackupError("the keys backup must not be inside (or contain) the live keys folder")
    if data_backup := _find_marker(output_dir, MANIFEST):
        raise BackupError(
            f"{data_backup} holds a data backup; the keys backup must be stored apart from it"
        )
    output_dir = _private_dir(output_dir)
    files: dict[str, str] = {}
    for key in key_files():
        if key.name == "vault-keyring.json" and (settings.VAULT_KEYRING or "").strip():
            content = settings.VAULT_KEYRING.encode()
        elif key.path.is_file():
            content = key.path.read_bytes()
        else:
            continue
        write_secret_file(output_dir / key.name, content)
        files[key.name] = hashlib.sha256(content).hexdigest()
    if "vault-keyring.json" not in files:
        raise BackupError("no vault keyring found: nothing could ever decrypt the data backup")
    _write_json(
        output_dir / KEYS_MANIFEST,
        {"format": KEYS_FORMAT, "created_at": datetime.now(UTC).isoformat(), "files": files},
    )
    return sorted(files)


# --- restore --------------------------------------------------------------------------------


def _read_manifest(path: Path, expected_format: str) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path} is missing: not a backup folder") from None
    if doc.get("format") != expected_format:
        raise BackupError(f"{path} is not a {expected_format} manifest")
    return doc


def _verify_data_backup(backup_dir: Path) -> dict:
    manifest = _read_manifest(backup_dir / MANIFEST, DATA_FORMAT)
    for name, expected in manifest["files"].items():
        path = backup_dir / name
        if not path.is_file() or sha256_file(path) != expected["sha256"]:
            raise BackupError(f"{path} is missing or does not match the manifest's SHA-256")
    return manifest


def _verify_keys_backup(keys_dir: Path) -> dict[str, bytes]:
    manifest = _read_manifest(keys_dir / KEYS_MANIFEST, KEYS_FORMAT)
    contents: dict[str, bytes] = {}
    for name, digest in manifest["files"].items():
        data = (keys_dir / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise BackupError(f"{keys_dir / name} does not match the keys manifest's SHA-256")
        contents[name] = data
    return contents


def _plan_keys(contents: dict[str, bytes]) -> list[tuple[Path, bytes]]:
    """Which key files to write; refuses any that exist with other content (never overwrite a
    key: the data sealed under it would be lost)."""
    in_env = (settings.VAULT_KEYRING or "").strip()
    backed_up = contents.get("vault-keyring.json")
    if in_env and backed_up is not None and json.loads(in_env) != json.loads(backed_up):
        raise BackupError("VAULT_KEYRING is set and differs from the backup's keyring")
    plan = []
    for key in key_files():
        data = contents.get(key.name)
        if data is None or (in_env and key.name == "vault-keyring.json"):
            continue
        if key.path.exists():
            if key.path.read_bytes() != data:
                raise BackupError(
                    f"{key.path} exists and differs from the backup's {key.name}; refusing to "
                    "overwrite a key (move it away yourself if you are sure)"
                )
            continue
        plan.append((key.path, data))
    return plan


def _target_is_empty() -> list[str]:
    """What the target instance already holds (empty list: nothing)."""
    found = []
    tables = set(connection.introspection.table_names())
    for held in _HOLDINGS:
        model = held.model
        if held.marks_in_use and model._meta.db_table in tables and model._default_manager.exists():
            found.append(f"{held.name} in the database")
    if VaultKey._meta.db_table in tables and VaultKey.objects.exists():
        found.append("vault keys in the database")
    if next(iter(_store().names()), None) is not None:
        found.append("blobs in the blob store")
    return found


def _restore_postgresql(dump: Path) -> None:
    pg_restore = _pg_tool("pg_restore")
    env, args = _pg_env_and_args()
    connection.close()
    _run(
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-acl", "--single-transaction",
         "--exit-on-error", *args, str(dump)],
        env,
    )  # fmt: skip


def _restore_sqlite(copy: Path) -> None:
    connection.ensure_connection()
    with sqlite3.connect(copy) as source:
        source.backup(connection.connection)
    connection.close()


def _restore_blobs(archive_path: Path) -> int:
    store = _store()
    count = 0
    with tarfile.open(archive_path, mode="r|") as archive:
        for member in archive:
            if not member.isfile() or not _BLOB_NAME.fullmatch(member.name):
                raise BackupError(f"unexpected entry {member.name!r} in {archive_path.name}")
            source = archive.extractfile(member)
            assert source is not None
            writer = store.open_write(member.name)
            try:
                while chunk := source.read(_CHUNK):
                    writer.write(chunk)
            except BaseException:
                writer.abort()
                raise
            writer.commit()
            count += 1
    return count


@dataclass(frozen=True)
class RestoreResult:
    blobs: int
    keys_written: list[str]
    manifest: dict


def restore(backup_dir: Path, keys_dir: Path | None, *, force: bool = False) -> RestoreResult:
    """Restore a data backup (and its keys, unless ``keys_dir`` is None) into this instance.

    Every check (manifests, SHA-256 of each file, an empty target, no differing keys) runs
    before anything is written.
    """
    backup_dir, keys = Path(backup_dir).resolve(), None
    manifest = _verify_data_backup(backup_dir)
    plan: list[tuple[Path, bytes]] = []
    if keys_dir is not None:
        keys = _verify_keys_backup(Path(keys_dir).resolve())
        plan = _plan_keys(keys)
    engine = _engine()
    if manifest["database"]["engine"] != engine:
        raise BackupError(
            f"the backup is of a {manifest['database']['engine']} database; this instance uses "
            f"{engine}"
        )
    if not force and (found := _target_is_empty()):
        raise BackupError(
            f"the target instance is not empty ({', '.join(found)}); restore into an empty "
            "instance, or pass --force to replace its database and add the blobs"
        )
    for path, data in plan:
        if not write_secret_file(path, data):
            raise BackupError(f"{path} appeared while restoring; not overwritten")
    database = backup_dir / manifest["database"]["file"]
    if engine == "postgresql":
        _restore_postgresql(database)
    else:
        _restore_sqlite(database)
    blobs = _restore_blobs(backup_dir / BLOBS_FILE)
    return RestoreResult(blobs, [str(path) for path, _ in plan], manifest)
