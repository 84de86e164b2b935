"""Benchmark the vault's streaming encryption against a plain streaming copy of the same file.

Run: .venv/bin/python bench/vault_bench.py [--size-mib 256] [--rounds 3]

Everything happens in a throwaway data folder (SQLite database, keyring, blobs), removed at the
end. Each figure is the best of ``--rounds`` runs. All writes end with fsync, because the vault
makes every blob durable before it reports success; the plain copy does the same so the two are
comparable.

The "seal" rows run the vault's Django-free core (aead + keyring + LocalBlobStore, the wrapped
key kept in memory, no database row) to show what the SHA-256 the vault computes costs: without
it, inline, on a helper thread as ``VaultWriter`` does, and pipelined (the hash of one chunk
overlapping the read and sealing of the next, two buffers in turn).

Peak memory is measured in a child process that imports only those Django-free modules, so the
figure is the vault's, not Django's ~70 MiB of imports (Linux only: it reads VmRSS and VmHWM
from /proc/self/status). Nothing here asserts: it prints tables for a human to read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

CHUNK = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent


def configure_django(data_dir: Path) -> None:
    """Point the gateway's settings at ``data_dir`` and set Django up there."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "gateway.settings"
    os.environ["GATEWAY_ENV"] = "embedded"
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'bench.sqlite3'}"
    os.environ["VAULT_SEGMENT_SIZE"] = str(CHUNK)
    for name in ("VAULT_KEYRING", "VAULT_KEYRING_FILE", "VAULT_BLOB_DIR", "KEYS_DIR", "CACHE_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def fsync_and_close(handle) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def plain_copy(source: Path, target: Path) -> None:
    buffer = memoryview(bytearray(CHUNK))
    with source.open("rb", buffering=0) as src:
        dst = target.open("wb", buffering=0)
        while n := src.readinto(buffer):
            dst.write(buffer[:n])
        fsync_and_close(dst)


def vault_encrypt(source: Path, *, digest: bool) -> uuid.UUID:
    from vault import get_vault

    with source.open("rb", buffering=0) as src:
        return get_vault().put_file(src, digest=digest).object_id


def vault_decrypt(object_id: uuid.UUID, target: Path) -> None:
    from vault import get_vault

    buffer = memoryview(bytearray(CHUNK))
    with get_vault().open(object_id) as reader:
        dst = target.open("wb", buffering=0)
        while n := reader.readinto(buffer):
            dst.write(buffer[:n])
        fsync_and_close(dst)


def vault_iter_chunks(object_id: uuid.UUID, target: Path) -> None:
    from vault import get_vault

    dst = target.open("wb", buffering=0)
    for chunk in get_vault().iter_chunks(object_id):
        dst.write(chunk)
    fsync_and_close(dst)


def best_seconds(
    steps: dict[str, tuple[Callable[[], object], Callable[[], object]]], rounds: int
) -> dict[str, float]:
    """Best wall time of each (run, cleanup) step over ``rounds`` runs in a row.

    Every run starts from a flushed disk (os.sync), so one step's writeback is never billed to
    the next; on this kind of virtual disk that effect alone can cost a step 4x.
    """
    best = dict.fromkeys(steps, float("inf"))
    for label, (run, cleanup) in steps.items():
        for _ in range(rounds):
            os.sync()
            started = time.perf_counter()
            run()
            best[label] = min(best[label], time.perf_counter() - started)
            cleanup()
    return best


def status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def import_vault_core() -> None:
    """Make ``vault.aead``/``keyring``/``storage`` importable without running
    ``vault/__init__.py``, which imports Django: an empty package module stands in for it."""
    import types

    package = types.ModuleType("vault")
    package.__path__ = [str(REPO / "vault")]
    sys.modules["vault"] = package
    sys.path.insert(0, str(REPO))


def seal_file(source: Path, store, keyring, hashing: str) -> tuple[uuid.UUID, str, bytes, str]:
    """Seal ``source`` as the vault does, without Django: returns (id, key id, wrapped key,
    sha256 hex). ``hashing``: none, inline, thread (as VaultWriter) or pipelined."""
    import hashlib
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    from vault.aead import EncryptingWriter

    object_id = uuid.uuid4()
    data_key = secrets.token_bytes(32)
    kid, wrapped = keyring.wrap(object_id, data_key)
    digest = hashlib.sha256()
    blob = store.open_write(object_id.hex)
    sealer = EncryptingWriter(blob, data_key, object_id, CHUNK)
    buffers = [memoryview(bytearray(CHUNK)), memoryview(bytearray(CHUNK))]
    fd = os.open(source, os.O_RDONLY)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = None
            turn = 0
            while True:
                view = buffers[turn]
                n = os.readv(fd, [view])
                if not n:
                    break
                chunk = view[:n]
                if hashing == "inline":
                    digest.update(chunk)
                    sealer.write(chunk)
                elif hashing == "thread":
                    hashed = pool.submit(digest.update, chunk)
                    sealer.write(chunk)
                    hashed.result()
                elif hashing == "pipelined":
                    # The previous chunk's hash must finish before this one's starts (order),
                    # and before its buffer is refilled (two turns later).
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(digest.update, chunk)
                    sealer.write(chunk)
                    turn ^= 1
                else:
                    sealer.write(chunk)
            if pending is not None:
                pending.result()
        sealer.finish()
        blob.commit()
    finally:
        os.close(fd)
    return object_id, kid, wrapped, digest.hexdigest()


def open_file(sealed: tuple[uuid.UUID, str, bytes, str], store, keyring, target: Path) -> None:
    from vault.aead import DecryptingReader

    object_id, kid, wrapped, _ = sealed
    data_key = keyring.unwrap(object_id, kid, wrapped)
    buffer = memoryview(bytearray(CHUNK))
    with DecryptingReader(store.open_read(object_id.hex), data_key, object_id) as reader:
        dst = target.open("wb", buffering=0)
        while n := reader.readinto(buffer):
            dst.write(buffer[:n])
        fsync_and_close(dst)


def child_main(data_dir: Path, source: Path) -> None:
    """Seal and then open one file with the Django-free core; report memory as JSON."""
    import_vault_core()
    import secrets

    from vault.keyring import Keyring
    from vault.storage import LocalBlobStore

    keyring = Keyring({"k-bench": secrets.token_bytes(32)}, "k-bench")
    store = LocalBlobStore(data_dir / "child-blobs")
    report: dict[str, object] = {"django_loaded": "django" in sys.modules}
    steps = {
        "encrypt": lambda: report.__setitem__(
            "sealed", seal_file(source, store, keyring, "thread")
        ),
        "decrypt": lambda: open_file(report["sealed"], store, keyring, data_dir / "child-out.bin"),
    }
    for label, step in steps.items():
        before = status_bytes("VmRSS")
        # Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current RSS, so the peak
        # read below belongs to this step alone, not to the imports before it.
        Path("/proc/self/clear_refs").write_text("5")
        step()
        report[label] = {"baseline": before, "peak": max(status_bytes("VmHWM"), before)}
    report.pop("sealed")
    print(json.dumps(report))


def measure_child(data_dir: Path, source: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--data-dir", str(data_dir), "--arg", str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--arg", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.data_dir, Path(args.arg))
        return

    data_dir = Path(tempfile.mkdtemp(prefix="vault-bench-"))
    try:
        run_benchmark(data_dir, args.size_mib, args.rounds)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run_benchmark(data_dir: Path, size_mib: int, rounds: int) -> None:
    from vault.keyring import generate_keyring_file

    generate_keyring_file(data_dir / "keys" / "vault-keyring.json")
    configure_django(data_dir)
    from django.core.management import call_command

    from vault import get_vault

    call_command("migrate", verbosity=0)
    vault = get_vault()

    source = data_dir / "source.bin"
    with source.open("wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(CHUNK))
    copy_target, plain_out = data_dir / "copy.bin", data_dir / "plain.bin"
    plain_copy(source, copy_target)  # warm the page cache for the source

    size = size_mib * CHUNK
    stored: list[uuid.UUID] = []

    def shred_stored() -> None:
        while stored:
            vault.shred(stored.pop())

    from vault.storage import LocalBlobStore

    core_store = LocalBlobStore(data_dir / "core-blobs")
    sealed: list[tuple] = []

    def seal(hashing: str) -> tuple[Callable[[], object], Callable[[], object]]:
        def cleanup() -> None:
            while sealed:
                core_store.delete(sealed.pop()[0].hex)

        return (lambda: sealed.append(seal_file(source, core_store, vault.keyring, hashing))), (
            cleanup
        )

    object_id = vault_encrypt(source, digest=False)
    seconds = best_seconds(
        {
            "plain copy (read+write 1 MiB chunks)": (
                lambda: plain_copy(source, plain_out),
                plain_out.unlink,
            ),
            "vault encrypt (put_file, as uploads stream)": (
                lambda: stored.append(vault_encrypt(source, digest=False)),
                shred_stored,
            ),
            "vault encrypt + plaintext SHA-256": (
                lambda: stored.append(vault_encrypt(source, digest=True)),
                shred_stored,
            ),
            "seal core, no SHA-256": seal("none"),
            "seal core, SHA-256 inline": seal("inline"),
            "seal core, SHA-256 on a thread (as now)": seal("thread"),
            "seal core, SHA-256 pipelined": seal("pipelined"),
            "vault decrypt (open + readinto 1 MiB)": (
                lambda: vault_decrypt(object_id, plain_out),
                plain_out.unlink,
            ),
            "vault decrypt (iter_chunks)": (
                lambda: vault_iter_chunks(object_id, plain_out),
                plain_out.unlink,
            ),
        },
        rounds,
    )
    memory = measure_child(data_dir, source)

    def mbps(seconds: float) -> float:
        return size / seconds / 1e6

    floor = mbps(next(iter(seconds.values())))
    print(f"Vault benchmark: {size_mib} MiB file, 1 MiB segments, best of {rounds}, fsync on")
    print(f"{'operation':<42}{'MB/s':>10}{'vs copy':>10}")
    print("-" * 62)
    for label, best in seconds.items():
        print(f"{label:<42}{mbps(best):>10.0f}{mbps(best) / floor:>10.0%}")
    print()
    print(f"{'peak RSS, Django-free child (MiB)':<32}{'before':>10}{'peak':>10}{'added':>10}")
    print("-" * 62)
    for label in ("encrypt", "decrypt"):
        mem = memory[label]
        added = mem["peak"] - mem["baseline"]
        print(
            f"{label + ' (aead + LocalBlobStore)':<32}{mem['baseline'] / 2**20:>10.1f}"
            f"{mem['peak'] / 2**20:>10.1f}{added / 2**20:>10.1f}"
        )
    print(f"(child imported Django: {memory['django_loaded']}; 'before' is its RSS after importing")
    print(" aead, keyring and storage; 'peak' is the peak RSS while the file streamed)")
    print("targets: vault >= 70% of the plain copy both ways; added RSS well under 64 MiB")


if __name__ == "__main__":
    main()
