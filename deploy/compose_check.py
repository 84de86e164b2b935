"""``make compose-check``: the production shape, built and run for real, checked from outside.

Every step is what README's "Production with compose" tells a clinic to do, run against
``compose.yaml`` (plus ``compose.check.yaml``: the demo AI endpoint as a service, short sweeper
intervals) on a Docker engine of this machine:

 1. images from a Debian base (built with mmdebstrap where no registry answers), for this
    checkout and for the previous release (``PREVIOUS_RELEASE``);
 2. keys with ``init_keys --output`` in a folder outside the source tree;
 3. the previous release's stack, an account, a scan de-identified there;
 4. the upgrade: the new migrations run while the old web still serves, then the services are
    recreated on the new image; the longest gap in web's answers is measured;
 5. the journey through the API: upload a CT series, de-identification on the deid worker,
    consent, send to the demo endpoint, the answer, the consent receipt checked offline with
    the published key, ``verify_audit_log``; no patient value in any container's log;
 6. ``worker-deid`` scaled to 2, both take scans;
 7. PostgreSQL and Redis restarted while scans are being worked on: every scan still ends
    ready, none lost;
 8. metrics read from the exporters (queue depth, seconds per image, quarantines, sends);
 9. ``backup`` and ``backup --keys-only`` inside the stack, ``down -v`` and the keys folder
    deleted, a fresh stack restored from the two backups, scans decrypted and compared;
10. ``down -v`` and everything it made removed: containers, volumes, networks, images, temp
    folders, and the engine with its network changes if it started one.

``--quick`` (CI) leaves out the previous release and the upgrade, scaling, restarts and the
restore (the backups are still taken).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine
import images

ROOT = Path(__file__).resolve().parent.parent
# main when this check was written: the last release before the container shape.
PREVIOUS_RELEASE = "f2f2635"
COMPOSE = shutil.which("docker-compose", path="/usr/bin:" + os.environ.get("PATH", ""))
HOST = "localhost"  # the name web answers to (ALLOWED_HOSTS), as the TLS proxy would send it
PATIENT = "patient@compose-check.example"
ADMIN = "admin@compose-check.example"
PASSWORD = "compose check " + secrets.token_urlsafe(12)  # a throwaway account
PHI_NAME = "Composecheck^Wilhelmina"
PHI_ID = "CC-PATIENT-77231"
APP_SERVICES = ("web", "worker-deid", "worker-send", "beat")

_started = time.monotonic()
figures: dict[str, Any] = {"steps": []}


class CheckFailed(AssertionError):
    pass


def say(message: str) -> None:
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", flush=True)


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    say(f"-> {name}")
    began = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"   FAILED: {name} after {time.monotonic() - began:.1f} s")
        raise
    seconds = time.monotonic() - began
    figures["steps"].append((name, seconds))
    say(f"   ok: {name} ({seconds:.1f} s)")


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """Poll ``probe`` until it returns something truthy; the check's only way of waiting."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- The stack, driven through docker-compose as a clinic would ---------------------------------


class Stack:
    """One compose project: ``compose.yaml`` + ``compose.check.yaml`` (+ extra files)."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        self.extra_files: list[Path] = []

    def compose(self, *args: str, check: bool = True, input: str | None = None,
                capture: bool = True, timeout: float = 900, **env: str) -> str:
        files = ["-f", str(ROOT / "compose.yaml"), "-f", str(ROOT / "compose.check.yaml")]
        for extra in self.extra_files:
            files += ["-f", str(extra)]
        result = subprocess.run(
            [COMPOSE, "-p", self.name, "--project-directory", str(ROOT), *files, *args],
            env={**self.env, **env}, input=input, text=True, timeout=timeout,
            stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE,
        )
        if check and result.returncode != 0:
            raise CheckFailed(
                f"docker-compose {' '.join(args)} failed ({result.returncode}):\n"
                + result.stderr[-3000:]
            )
        return result.stdout or ""

    def manage(self, *args: str, input: str | None = None, **env: str) -> str:
        """A management command in a one-off ``ops`` container (it holds every key)."""
        out = self.compose("run", "--rm", "-T", "ops", "python", "manage.py", *args,
                           input=input, **env)
        # JSON log lines share stdout with the command's own output.
        return "\n".join(line for line in out.splitlines() if not line.startswith("{"))

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).split()

    def health(self, container: str) -> str:
        return docker("inspect", "--format", "{{.State.Health.Status}}", container).strip()

    def wait_healthy(self, services: tuple[str, ...], timeout: float = 180) -> None:
        def all_healthy() -> bool:
            for service in services:
                ids = self.containers(service)
                if not ids or any(self.health(c) != "healthy" for c in ids):
                    return False
            return True

        wait_for(f"{', '.join(services)} healthy", all_healthy, timeout, every=2)

    def logs(self, container: str) -> str:
        return docker("logs", container, stderr=True)


def docker(*args: str, stderr: bool = False, check: bool = True) -> str:
    result = subprocess.run([images.DOCKER, *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise CheckFailed(f"docker {' '.join(args[:3])} failed: {result.stderr[-2000:]}")
    return result.stdout + (result.stderr if stderr else "")


# --- Talking to the gateway from outside --------------------------------------------------------


class Gateway:
    """The API as a patient's client sees it, through the published port. The headers are
    what the clinic's TLS proxy adds (README)."""

    def __init__(self, port: int, token: str = "") -> None:
        headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers,
                                 timeout=60)

    def get(self, path: str, expect: int = 200) -> httpx.Response:
        response = self.http.get(path)
        require(response.status_code == expect,
                f"GET {path}: {response.status_code} {response.text[:300]}")
        return response

    def post(self, path: str, expect: int = 201, **kwargs: Any) -> httpx.Response:
        response = self.http.post(path, **kwargs)
        require(response.status_code == expect,
                f"POST {path}: {response.status_code} {response.text[:300]}")
        return response

    def upload(self, files: list[tuple[str, bytes]]) -> str:
        response = self.post("/api/v1/scans", files=[
            ("files", (name, data, "application/dicom")) for name, data in files])
        return response.json()["id"]

    def scan(self, scan_id: str) -> dict:
        return self.get(f"/api/v1/scans/{scan_id}").json()

    def wait_scan(self, scan_id: str, timeout: float = 300) -> dict:
        def settled() -> dict | None:
            scan = self.scan(scan_id)
            return scan if scan["status"] in {"ready_for_review", "quarantined", "failed"} else None

        scan = wait_for(f"scan {scan_id} de-identified", settled, timeout)
        require(scan["status"] == "ready_for_review",
                f"scan {scan_id} ended {scan['status']}: {scan['error_message']}")
        return scan

    def preview(self, scan: dict) -> bytes:
        image = next(i for i in scan["images"] if i["outcome"] == "clean")
        return self.get(f"/api/v1/scans/{scan['id']}/images/{image['id']}/preview").content


def ct_series(slices: int, size: int = 96) -> list[tuple[str, bytes]]:
    """A CT series with identifying headers, made here (no patient data anywhere)."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    study, series = generate_uid(), generate_uid()
    files = []
    for number in range(1, slices + 1):
        ds = Dataset()
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality = "CT"
        ds.PatientName = PHI_NAME
        ds.PatientID = PHI_ID
        ds.PatientBirthDate = "19610203"
        ds.InstitutionName = "Compose Check Hospital"
        ds.StudyDate = "20261201"
        ds.InstanceNumber = number
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        y, x = np.mgrid[0:size, 0:size]
        ds.PixelData = ((x * 7 + y * 5 + number * 40) % 4096).astype("<u2").tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        files.append((f"slice{number:03d}.dcm", out.getvalue()))
    return files


def as_zip(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(f"series/{name}", data)
    return [("series.zip", buffer.getvalue())]


class Availability:
    """Polls web's /healthz every 100 ms in a thread; the longest run of failures is the
    downtime a patient would have seen."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop_event = threading.Event()
        self.longest = 0.0
        self.requests = 0
        self.failures = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # A new connection each time, as a proxy without upstream keep-alive opens them.
        client = httpx.Client(headers={"Host": HOST, "Connection": "close"}, timeout=1)
        down_since: float | None = None
        while not self.stop_event.is_set():
            now = time.monotonic()
            try:
                ok = client.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200
            except httpx.HTTPError:
                ok = False
            self.requests += 1
            if ok:
                if down_since is not None:
                    self.longest = max(self.longest, now - down_since)
                down_since = None
            else:
                self.failures += 1
                down_since = down_since if down_since is not None else now
            time.sleep(0.1)
        if down_since is not None:
            self.longest = max(self.longest, time.monotonic() - down_since)

    def __enter__(self) -> Availability:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join()


# --- The steps ----------------------------------------------------------------------------------


def build_images(tag: str, previous_tag: str | None, work: Path, built: list[str]) -> str:
    with step("images: Debian base, locked wheels, app + PostgreSQL 15 + Redis"):
        base, made_here = images.choose_base()
        if made_here:
            built.append(base)
        images.fill_wheelhouse(ROOT)
        timings = images.build(tag, base, ROOT)
        figures["base"] = base
        figures["images"] = {name: images.image_size(name) for name in timings}
        figures["build_seconds"] = timings
    if previous_tag:
        with step(f"images: the previous release {PREVIOUS_RELEASE} as {previous_tag}"):
            context = previous_context(work)
            timings = images.build(previous_tag, base, context, only_app=True)
            name = f"{images.APP_IMAGE}:{previous_tag}"
            figures["images"][name] = images.image_size(name)
    for name, size in figures["images"].items():
        say(f"   image {name:<42} {size / 1e6:7.0f} MB")
    with step("images: non-root, nothing of the build context's secrets, no build tools"):
        inspect_app_image(f"{images.APP_IMAGE}:{tag}")
    return base


def inspect_app_image(name: str) -> None:
    """What .dockerignore and the multi-stage build promise, read off the image itself."""
    user = docker("image", "inspect", "--format", "{{.Config.User}}", name).strip()
    require(user.startswith("10001"), f"the image runs as {user!r}, not uid 10001")
    listing = docker("run", "--rm", "--entrypoint", "sh", name, "-c",
                     "ls -A /app; echo ---; for t in gcc cc make pip pip3 apt-get git; do "
                     "command -v $t; done; "
                     "echo ---; find /app /data /backups /tmp /home \\( -name '*.pem' "
                     "-o -name '*.key' -o -name 'vault-keyring.json' -o -name '*.sqlite3' "
                     "-o -name '.env' \\) 2>/dev/null; true")  # where a copied file would be
    top, tools, keys = (part.split() for part in listing.split("---"))
    forbidden = {".git", ".venv", "var", "secrets", "tests", "test-artifacts", "bench",
                 "staticfiles.tmp", ".env", "deploy", "requirements.lock"}
    require(not forbidden & set(top), f"in /app: {sorted(forbidden & set(top))}")
    require(tools == ["/usr/bin/apt-get"], f"build tools in the image: {tools}")
    require(not keys, f"key or database files in the image: {keys}")
    say(f"   /app holds {' '.join(sorted(top))}; user {user}; no pip, compiler or key files")


def previous_context(work: Path) -> Path:
    """The previous release's code with this checkout's image recipe: its own Dockerfile named
    public base images, which air-gapped hosts cannot pull."""
    context = work / "previous"
    context.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS_RELEASE],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(context)], input=archive, check=True)
    for name in ("Dockerfile", ".dockerignore", "requirements.lock"):
        shutil.copy2(ROOT / name, context / name)
    # The recipe copies this checkout's folders one by one; one the previous release did not
    # have yet (an app added since) is copied empty there, which that release never imports.
    for folder in re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M):
        (context / folder).mkdir(exist_ok=True)
    shutil.copytree(ROOT / "deploy" / "wheelhouse", context / "deploy" / "wheelhouse",
                    copy_function=os.link, dirs_exist_ok=True)
    return context


def make_keys(tag: str, folder: Path) -> None:
    with step("keys: manage.py init_keys --output (outside the source tree)"):
        folder.mkdir(mode=0o700)
        os.chown(folder, 10001, 10001)
        docker("run", "--rm", "--user", "10001:10001", "-v", f"{folder}:/keys",
               f"{images.APP_IMAGE}:{tag}", "python", "manage.py", "init_keys", "--output",
               "/keys")
        names = sorted(p.name for p in folder.iterdir())
        require(len(names) == 6, f"init_keys made {names}")
        require(all((folder / n).stat().st_mode & 0o077 == 0 for n in names), "keys not 0600")


def previous_override(work: Path) -> Path:
    """How the previous release ran its processes: every key in every process, its own
    gunicorn command line and no heartbeat (it had none)."""
    every_key = ["django-secret.key", "vault-keyring.json", "deid.key", "attestation.key",
                 "audit-signing.pem", "audit-signing.pub.pem"]
    env = {"SECRET_KEY_FILE": "/run/secrets/django-secret.key",
           "VAULT_KEYRING_FILE": "/run/secrets/vault-keyring.json"}
    web_check = ("import urllib.request as u, sys; sys.exit(u.urlopen(u.Request("
                 "'http://127.0.0.1:8000/healthz', headers={'Host': 'localhost'})).status != 200)")
    services: dict[str, Any] = {
        "migrate": {"secrets": every_key, "environment": env},
        "web": {"secrets": every_key, "environment": env,
                "command": ["gunicorn", "gateway.wsgi", "--bind", "0.0.0.0:8000", "--workers",
                            "2", "--threads", "4", "--timeout", "900", "--access-logfile", "-",
                            "--access-logformat", "%(m)s %(U)s %(s)s %(L)ss"],
                "healthcheck": {"test": ["CMD", "python", "-c", web_check]}},
    }
    # Its compose file asked the workers for a ping; beat answered nothing (a process check).
    for service in ("worker-deid", "worker-send", "beat"):
        old_check = (["CMD", "celery", "-A", "gateway", "inspect", "ping", "--timeout", "5"]
                     if service != "beat" else ["CMD", "python", "-c", "import os; os.kill(1, 0)"])
        services[service] = {"secrets": every_key, "environment": env, "entrypoint": ["env"],
                             "healthcheck": {"test": old_check}}
    path = work / "compose.previous.yaml"
    path.write_text(json.dumps({"services": services}, indent=1))
    return path


def create_patient(stack: Stack) -> str:
    """A clinic admin and a patient (README step 4); returns the patient's API token."""
    stack.manage("create_account", ADMIN, "--role", "clinic_admin", "--password-file",
                 "/dev/stdin", input=PASSWORD + "\n")
    stack.manage("create_account", PATIENT, "--role", "patient", "--password-file",
                 "/dev/stdin", input=PASSWORD + "\n")
    token = stack.manage("create_api_token", PATIENT, "--name", "compose-check")
    token = token.strip().splitlines()[-1].strip()
    require(len(token) >= 20, "no API token printed")
    return token


def run_previous_release(stack: Stack, port: int, work: Path) -> tuple[str, str, bytes]:
    with step(f"previous release {PREVIOUS_RELEASE}: stack up, account, a scan de-identified"):
        stack.extra_files = [previous_override(work)]
        stack.compose("up", "-d", "--no-build", "postgres", "redis", "migrate", "web",
                      "worker-deid", "worker-send", "beat")
        stack.wait_healthy(("postgres", "redis", "web"))
        token = create_patient(stack)
        gateway = Gateway(port, token)
        scan_id = gateway.upload(ct_series(4))
        scan = gateway.wait_scan(scan_id)
        return token, scan_id, gateway.preview(scan)


def upgrade(stack: Stack, port: int, tag: str, token: str, scan_id: str, preview: bytes) -> None:
    with step("upgrade to this checkout: migrations while the old web serves, then the swap"):
        before = set(applied_migrations(stack))
        with Availability(port) as watch:
            began = time.monotonic()
            stack.extra_files = []
            stack.compose("run", "--rm", "--no-deps", "migrate", GATEWAY_TAG=tag)
            migration_seconds = time.monotonic() - began
            old_web_down = watch.failures
            stack.env["GATEWAY_TAG"] = tag
            # Workers and beat first (queued work waits in Redis meanwhile), web last and alone.
            stack.compose("up", "-d", "--no-build", "--no-deps", "worker-deid", "worker-send",
                          "beat")
            swap_began = time.monotonic()
            stack.compose("up", "-d", "--no-build", "--no-deps", "web")
            stack.wait_healthy(("web",))
            swap_seconds = time.monotonic() - swap_began
            stack.compose("up", "-d", "--no-build", "--remove-orphans")
            stack.wait_healthy(("web", "worker-deid", "worker-send", "beat"))
        after = set(applied_migrations(stack))
        figures["upgrade"] = {
            "migrations_applied": sorted(after - before),
            "migration_seconds": round(migration_seconds, 1),
            "web_failed_probes_during_migration": old_web_down,
            "longest_web_gap_seconds": round(watch.longest, 1),
            "web_swap_until_healthy_seconds": round(swap_seconds, 1),
        }
        say(f"   migrations applied: {sorted(after - before) or 'none (schema unchanged)'}; "
            f"migrate took {migration_seconds:.1f} s with web answering "
            f"({old_web_down} failed probes); the container swap cost {watch.longest:.1f} s")
        require(old_web_down == 0, "web stopped answering while the migrations ran")
        gateway = Gateway(port, token)
        require(gateway.preview(gateway.scan(scan_id)) == preview,
                "the scan from the previous release no longer decrypts to the same image")


def applied_migrations(stack: Stack) -> list[str]:
    out = stack.manage("showmigrations", "--plan")
    return [line.split("]", 1)[1].strip() for line in out.splitlines() if line.startswith("[X]")]


def journey(stack: Stack, port: int, token: str) -> dict[str, Any]:
    gateway = Gateway(port, token)
    with step("journey: demo endpoint registered (setup_demo_endpoint) and served by the stack"):
        stack.manage("setup_demo_endpoint", "--url", "http://demo:8765/v1")
        endpoints = gateway.get("/api/v1/endpoints").json()
        require(len(endpoints) >= 1, "no endpoint offered")
        endpoint = endpoints[0]
    with step("journey: upload a CT series (12 slices, identifying headers) through the API"):
        series = ct_series(12)
        scan_id = gateway.upload(series)
    with step("journey: de-identification on the deid worker"):
        began = time.monotonic()
        scan = gateway.wait_scan(scan_id)
        figures["journey_deid_seconds"] = round(time.monotonic() - began, 1)
        require(len(scan["images"]) == 12 and all(i["outcome"] == "clean" for i in scan["images"]),
                f"expected 12 clean images: {[i['outcome'] for i in scan['images']]}")
        worker_logs = "".join(stack.logs(c) for c in stack.containers("worker-deid"))
        require(scan_id in worker_logs, "the deid worker's log does not show the scan")
        report = gateway.get(f"/api/v1/scans/{scan_id}/report").text
        require(PHI_NAME not in report and PHI_ID not in report, "identifiers in the report")
    with step("journey: consent request, consent, send to the demo endpoint, answer"):
        created = gateway.post(f"/api/v1/scans/{scan_id}/consent-requests", json={
            "endpoint": endpoint["id"], "question": "Is there anything unusual on this CT?"},
        ).json()
        consent_id = gateway.post(
            f"/api/v1/consent-requests/{created['id']}/accept",
            json={"consent_text_sha256": created["consent_text_sha256"],
                  "manifest_sha256": created["manifest_sha256"], "affirm": True},
        ).json()["consent_id"]

        def settled() -> dict | None:
            consent = gateway.get(f"/api/v1/consents/{consent_id}").json()
            return consent if consent["state"] not in {"active", "sending"} else None

        consent = wait_for("the send", settled, 120)
        require(consent["state"] == "sent", f"consent ended {consent['state']}")
        answers = gateway.get(f"/api/v1/scans/{scan_id}/answers").json()
        require(len(answers) == 1 and "Demo endpoint" in answers[0]["markdown"],
                "no answer from the demo endpoint")
        say(f"   answer: {answers[0]['markdown'].splitlines()[0][:90]}")
    with step("journey: consent receipt checked offline with the published key; audit log"):
        receipt = wait_for("the consent receipt", lambda: receipt_of(gateway, consent_id), 60)
        public_pem = gateway.get("/audit/public-key.pem").content
        sys.path.insert(0, str(ROOT))
        from audit import merkle

        verdict = merkle.verify_receipt(receipt, merkle.load_public_key_pem(public_pem))
        require(verdict.ok, f"receipt does not verify: {verdict}")
        out = stack.manage("verify_audit_log")
        require("OK:" in out, f"verify_audit_log: {out}")
        say(f"   verify_audit_log: {out.strip().splitlines()[-1]}")
    with step("journey: no identifying value in any container's log"):
        for service in (*APP_SERVICES, "demo", "postgres", "redis"):
            for container in stack.containers(service):
                text = stack.logs(container)
                require(PHI_NAME.split("^")[0] not in text and PHI_ID not in text,
                        f"{service} logged an identifying value")
                bad = [line for line in text.splitlines()
                       if line.startswith("{") and not is_json(line)]
                require(not bad, f"{service} wrote a line that is not JSON: {bad[:1]}")
    return {"scan_id": scan_id, "consent_id": consent_id, "preview": gateway.preview(scan),
            "answer": answers[0]["markdown"]}


def receipt_of(gateway: Gateway, consent_id: str) -> dict | None:
    response = gateway.http.get(f"/api/v1/consents/{consent_id}/receipt?kind=consent")
    return response.json() if response.status_code == 200 else None


def is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def scale_deid(stack: Stack, port: int, token: str) -> None:
    gateway = Gateway(port, token)
    with step("scale: worker-deid to 2; both take scans"):
        stack.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "worker-deid=2")
        stack.wait_healthy(("worker-deid",))
        containers = stack.containers("worker-deid")
        require(len(containers) == 2, f"expected 2 deid workers, found {len(containers)}")
        scan_ids = [gateway.upload(ct_series(6)) for _ in range(8)]
        for scan_id in scan_ids:
            gateway.wait_scan(scan_id)
        taken = {c[:12]: sum(s in stack.logs(c) for s in scan_ids) for c in containers}
        say(f"   scans per deid worker: {taken}")
        figures["scale"] = taken
        require(all(count > 0 for count in taken.values()), "a deid worker took no scan")
        require(sum(taken.values()) >= len(scan_ids), "a scan was done by no worker")


def restarts(stack: Stack, port: int, token: str) -> None:
    gateway = Gateway(port, token)
    with step("restarts: PostgreSQL and Redis restarted mid-run; nothing lost"):
        scan_ids = [gateway.upload(ct_series(8)) for _ in range(6)]
        wait_for("work under way", lambda: any(
            gateway.scan(s)["status"] == "deidentifying" for s in scan_ids), 60, every=0.2)
        stack.compose("restart", "postgres")
        say("   postgres restarted")
        stack.wait_healthy(("postgres",))
        stack.compose("restart", "redis")
        say("   redis restarted")
        stack.wait_healthy(("redis",))
        late = gateway_retrying(lambda: gateway.upload(ct_series(3)))
        scan_ids.append(late)
        began = time.monotonic()
        for scan_id in scan_ids:
            scan = gateway_retrying(lambda s=scan_id: gateway.wait_scan(s, timeout=420))
            require(len(scan["images"]) == scan["progress"]["total"] and scan["images"],
                    f"scan {scan_id} lost images")
        figures["restarts"] = {"scans": len(scan_ids),
                               "settled_after_seconds": round(time.monotonic() - began, 1)}
        say(f"   all {len(scan_ids)} scans ready, every image present")
        stack.wait_healthy(APP_SERVICES)


def gateway_retrying(action: Callable[[], Any], attempts: int = 20) -> Any:
    """A client's retry while web reconnects to a restarted database (5xx or a dropped link)."""
    for attempt in range(attempts):
        try:
            return action()
        except (CheckFailed, httpx.HTTPError) as error:
            if attempt == attempts - 1 or "timed out" in str(error):
                raise
            time.sleep(1)
    return None


def read_metrics(stack: Stack) -> None:
    with step("metrics: the exporters of worker-deid, worker-send and beat"):
        samples: dict[str, float] = {}
        for service in ("worker-deid", "worker-send", "beat"):
            for container in stack.containers(service):
                text = docker("exec", container, "python", "-c",
                              "import urllib.request as u; print(u.urlopen("
                              "'http://127.0.0.1:9100/metrics').read().decode())")
                for line in text.splitlines():
                    if line.startswith("gateway_") and " " in line:
                        name, value = line.rsplit(" ", 1)
                        samples[name] = samples.get(name, 0.0) + float(value)
        count = samples.get('gateway_deid_image_seconds_count{outcome="clean"}', 0)
        total = samples.get('gateway_deid_image_seconds_sum{outcome="clean"}', 0)
        require(count > 0, "no de-identification time recorded")
        require(samples.get('gateway_send_outcomes_total{outcome="sent"}', 0) >= 1,
                "no send outcome recorded")
        require(any(k.startswith("gateway_queue_depth") for k in samples), "no queue depth")
        figures["metrics"] = {
            "images_deidentified": int(count),
            "mean_seconds_per_image": round(total / count, 3),
            "quarantined": int(samples.get('gateway_images{outcome="quarantined"}', 0)),
            "sends": int(samples.get('gateway_send_outcomes_total{outcome="sent"}', 0)),
            "queue_depth": {k.split('"')[1]: int(v) for k, v in samples.items()
                            if k.startswith("gateway_queue_depth")},
        }
        say(f"   {figures['metrics']}")


def backup_and_restore(stack: Stack, port: int, token: str, done: dict[str, Any],
                       keys_dir: Path, backups: Path, keys_backups: Path,
                       restore: bool = True) -> None:
    gateway = Gateway(port, token)
    with step("backup: manage.py backup and backup --keys-only inside the stack"):
        stack.manage("backup", "/backups/data")
        stack.compose("run", "--rm", "-T", "-v", f"{keys_backups}:/keys-backup", "ops",
                      "python", "manage.py", "backup", "--keys-only", "/keys-backup/keys")
        manifest = json.loads((backups / "data" / "manifest.json").read_text())
        say(f"   data backup: {manifest['counts']}")
    if not restore:
        return
    with step("disaster: down -v (database, broker and blob volumes) and the keys folder gone"):
        stack.compose("down", "-v", "--remove-orphans")
        shutil.rmtree(keys_dir)
    with step("restore: keys from the keys backup, data into a fresh stack, migrate, start"):
        keys_dir.mkdir(mode=0o700)
        for item in (keys_backups / "keys").iterdir():
            if item.name != "keys-manifest.json":
                shutil.copy2(item, keys_dir / item.name)
        os.chown(keys_dir, 10001, 10001)
        for item in keys_dir.iterdir():
            os.chown(item, 10001, 10001)
            item.chmod(0o600)
        # The public key is not in a keys backup; init_keys derives it and adds nothing else.
        docker("run", "--rm", "--user", "10001:10001", "-v", f"{keys_dir}:/keys",
               f"{images.APP_IMAGE}:{stack.env['GATEWAY_TAG']}", "python", "manage.py",
               "init_keys", "--output", "/keys")
        stack.compose("up", "-d", "--no-build", "postgres", "redis")
        stack.wait_healthy(("postgres", "redis"))
        out = stack.manage("restore", "/backups/data", "--without-keys")
        say(f"   {out.strip().splitlines()[0]}")
        stack.compose("up", "-d", "--no-build")
        stack.wait_healthy(("web", *APP_SERVICES[1:]))
    with step("restore: the scan decrypts to the same image, the answer reads the same"):
        scan = gateway.scan(done["scan_id"])
        require(gateway.preview(scan) == done["preview"], "restored preview differs")
        answers = gateway.get(f"/api/v1/scans/{done['scan_id']}/answers").json()
        require(answers and answers[0]["markdown"] == done["answer"], "restored answer differs")
        out = stack.manage("verify_audit_log")
        require("OK:" in out, f"verify_audit_log after restore: {out}")
        say(f"   preview sha256 {hashlib.sha256(done['preview']).hexdigest()[:16]} matches; "
            f"audit log {out.strip().splitlines()[-1]}")


def tear_down(stack: Stack, built: list[str], engine_started: bool) -> None:
    with step("clean up: down -v, images, temporary folders"):
        stack.compose("--profile", "ops", "down", "-v", "--remove-orphans", check=False)
        left = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.name}",
                      check=False).split()
        volumes = docker("volume", "ls", "-q", "--filter",
                         f"label=com.docker.compose.project={stack.name}", check=False).split()
        require(not left and not volumes, f"left behind: {left} {volumes}")
        if not engine_started:  # a private engine goes with its whole data root
            for name in built:
                docker("image", "rm", "-f", name, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="CI: no previous release, upgrade, scaling, restarts or restore")
    options = parser.parse_args()
    if COMPOSE is None:
        print("docker-compose is not installed (apt-get install docker-compose)", file=sys.stderr)
        return 2
    has_previous = not options.quick and subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
        capture_output=True).returncode == 0
    if not options.quick and not has_previous:
        say(f"the previous release {PREVIOUS_RELEASE} is not in this clone: no upgrade step")
    tag = images.git_tag(ROOT)
    previous_tag = f"previous-{PREVIOUS_RELEASE}" if has_previous else None
    ok = False
    with engine.running() as (docker_host, engine_started), \
            tempfile.TemporaryDirectory(prefix="compose-check-", dir="/var/tmp") as tmp:
        os.environ["DOCKER_HOST"] = docker_host
        say(f"engine: {'started a private dockerd' if engine_started else 'using'} {docker_host}")
        work = Path(tmp)
        keys_dir, backups, keys_backups = work / "keys", work / "backups", work / "keys-backups"
        for folder in (backups, keys_backups):
            folder.mkdir(mode=0o700)
            os.chown(folder, 10001, 10001)
        port = free_port()
        stack = Stack(f"scangw-check-{os.getpid()}", {
            **os.environ, "PATH": "/usr/bin:" + os.environ.get("PATH", ""),
            "DOCKER_HOST": docker_host, "SECRETS_DIR": str(keys_dir),
            "BACKUP_DIR": str(backups), "WEB_PORT": str(port), "ALLOWED_HOSTS": HOST,
            "GATEWAY_TAG": previous_tag or tag, "COMPOSE_HTTP_TIMEOUT": "300",
            # Fewer processes than a clinic's defaults: this machine has 2 cores for everything.
            "WEB_WORKERS": "2", "SEND_CONCURRENCY": "2",
        })
        built = [f"{images.APP_IMAGE}:{tag}", images.POSTGRES_IMAGE, images.REDIS_IMAGE]
        if previous_tag:
            built.append(f"{images.APP_IMAGE}:{previous_tag}")
        try:
            build_images(tag, previous_tag, work, built)
            make_keys(tag, keys_dir)
            if previous_tag:
                token, old_scan, old_preview = run_previous_release(stack, port, work)
                upgrade(stack, port, tag, token, old_scan, old_preview)
            else:
                with step("stack up: compose.yaml + compose.check.yaml, health checks"):
                    stack.compose("up", "-d", "--no-build")
                    stack.wait_healthy(("postgres", "redis", *APP_SERVICES))
                with step("accounts: create_account and create_api_token in the ops container"):
                    token = create_patient(stack)
            done = journey(stack, port, token)
            if not options.quick:
                scale_deid(stack, port, token)
                restarts(stack, port, token)
            read_metrics(stack)
            backup_and_restore(stack, port, token, done, keys_dir, backups, keys_backups,
                               restore=not options.quick)
            ok = True
        except BaseException:
            with contextlib.suppress(Exception):
                say("   last log lines of each service:")
                for service in ("migrate", *APP_SERVICES):
                    for container in stack.containers(service):
                        tail = stack.logs(container).splitlines()[-5:]
                        print("\n".join(f"     {service}: {line[:200]}" for line in tail))
            raise
        finally:
            tear_down(stack, built, engine_started)
    total = time.monotonic() - _started
    say(f"{'PASSED' if ok else 'FAILED'}: compose check in {total:.0f} s")
    for name, seconds in figures["steps"]:
        print(f"   {seconds:6.1f} s  {name}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
