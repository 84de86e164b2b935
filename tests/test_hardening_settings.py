"""Process-wide hardening: private files, the client's address behind trusted proxies."""

from __future__ import annotations

import os
import stat

from django.test import RequestFactory, override_settings

from gateway.client_address import client_address


def test_every_file_the_process_writes_is_private(tmp_path):
    # gateway.settings sets the umask before anything else runs.
    path = tmp_path / "written.sqlite3"
    path.write_bytes(b"x")
    folder = tmp_path / "made"
    folder.mkdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    current = os.umask(0o077)
    assert current == 0o077


def request(forwarded: str | None = None, **headers: str):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **extra, **headers)


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored():
    assert client_address(request("203.0.113.9")) == "10.0.0.1"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_one_proxy_the_last_forwarded_entry_is_the_client_whatever_the_client_wrote():
    assert client_address(request("198.51.100.1, 203.0.113.9")) == "203.0.113.9"
    assert client_address(request()) == "10.0.0.1"  # straight to the server (health check)


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_fewer_hops_than_proxies_is_not_evidence():
    assert client_address(request("203.0.113.9")) == "10.0.0.1"


@override_settings(TRUSTED_CLIENT_IP_HEADER="X-Real-IP")
def test_a_header_set_by_the_proxy():
    assert client_address(request(HTTP_X_REAL_IP="203.0.113.5")) == "203.0.113.5"
    assert client_address(request(HTTP_X_REAL_IP="not an address")) == "10.0.0.1"


def test_telemetry_is_off():
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"


@override_settings(
    PRODUCTION=True,
    PUBLIC_URL="https://gateway.clinic.example",
    ALLOWED_HOSTS=["gateway.clinic.example"],
)
def test_in_production_a_host_with_another_port_is_refused(client):
    assert client.get("/", HTTP_HOST="gateway.clinic.example:4444").status_code == 400
    assert client.get("/", HTTP_HOST="gateway.clinic.example").status_code != 400
    assert client.get("/healthz", HTTP_HOST="gateway.clinic.example:8000").status_code == 200


def test_test_server_host_is_accepted_by_the_test_settings_only():
    from gateway import settings as app_settings

    assert "testserver" not in app_settings.ALLOWED_HOSTS
