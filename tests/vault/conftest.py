"""A private vault per test, 4 KiB segments, on each blob store: local disk and real S3.

Every test that asks for ``vault`` or ``vault_settings`` runs twice: once with blobs under the
test's tmp_path, once in a private prefix of a bucket on a real SeaweedFS server (started once per
session, and only if an S3 test is selected).
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.blobs import SEGMENT
from tests.support.s3server import S3Server, running_seaweedfs
from vault import Vault, generate_keyring_file, get_vault

# Tests about the local store's files on disk; their S3 counterparts are in test_s3_store.py.
LOCAL_ONLY = {
    "test_memory_stays_flat_while_streaming_a_large_object": (
        "the S3 writer holds one 8 MiB upload part by design; see test_s3_store.py"
    ),
    "test_a_blob_that_cannot_reach_the_disk_fails_the_batch_and_takes_the_others_with_it": (
        "a failing flush of a local disk"
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Local-only tests are not generated for S3 at all (a skipped test proves nothing)."""

    def s3_variant_of_local_only(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        return (
            getattr(item, "originalname", "") in LOCAL_ONLY
            and callspec is not None
            and callspec.params.get("vault_settings") == "s3"
        )

    dropped = [item for item in items if s3_variant_of_local_only(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not s3_variant_of_local_only(item)]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real S3-compatible server for the whole session, stopped at its end."""
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "vault-keyring.json"
    generate_keyring_file(path)
    return path


@pytest.fixture(params=["local", "s3"])
def vault_settings(request: pytest.FixtureRequest, settings, tmp_path: Path, keyring_path: Path):
    settings.VAULT_BACKEND = "local"
    settings.VAULT_BLOB_DIR = tmp_path / "blobs"
    settings.VAULT_KEYRING = ""
    settings.VAULT_KEYRING_PATH = keyring_path
    settings.VAULT_SEGMENT_SIZE = SEGMENT
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        # A fresh prefix per test: the bucket is shared, what a test sees must not be.
        for name, value in server.settings(prefix=f"t-{uuid.uuid4().hex[:12]}/").items():
            setattr(settings, name, value)
    return settings


@pytest.fixture
def vault(vault_settings) -> Vault:
    return get_vault()
