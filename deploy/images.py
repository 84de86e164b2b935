"""Build every image of the stack: the gateway, PostgreSQL 15 and Redis, all from one Debian base.

The base is ``BASE_IMAGE`` when given; otherwise the public ``debian:bookworm-slim`` when a
registry answers; otherwise (air-gapped hosts) a minimal Debian bookworm built here from Debian
packages with mmdebstrap and imported as ``localhost/debian:bookworm``. The gateway's Python
packages are the locked wheels, downloaded into ``deploy/wheelhouse`` first (pip's own cache
makes this quick), so the image build itself needs no package index.

    python deploy/images.py [--tag TAG] [--context DIR]   (make images)

Images: ``scan-gateway:TAG`` (and ``:latest``), ``scan-gateway-postgres:15``,
``scan-gateway-redis:7``. Needs a running engine (DOCKER_HOST or the system socket).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
PUBLIC_BASE = "debian:bookworm-slim"
LOCAL_BASE = "localhost/debian:bookworm"
APP_IMAGE = "scan-gateway"
POSTGRES_IMAGE = "scan-gateway-postgres:15"
REDIS_IMAGE = "scan-gateway-redis:7"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_BUILDKIT": "1", **kwargs.pop("env", {})}
    return subprocess.run(command, check=True, env=env, **kwargs)


def image_exists(name: str) -> bool:
    return (
        subprocess.run([DOCKER, "image", "inspect", name], capture_output=True).returncode == 0
    )


def git_tag(context: Path = ROOT) -> str:
    """The image tag for a checkout: its short commit (plus ``-dirty`` for local changes)."""
    commit = subprocess.run(
        ["git", "-C", str(context), "rev-parse", "--short=12", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(context), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def build_local_base(suite: str = "bookworm") -> str:
    """A minimal Debian from Debian's packages (no registry), imported into the engine."""
    if not shutil.which("mmdebstrap"):
        raise SystemExit("mmdebstrap is not installed (apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory(prefix="gateway-rootfs-", dir="/var/tmp") as folder:
        tarball = Path(folder) / "rootfs.tar"
        work = Path(folder) / "work"
        for attempt in (1, 2):
            work.mkdir()
            # Its own work folder (TMPDIR), so a failed run's leftovers are found and removed.
            result = subprocess.run(
                ["mmdebstrap", "--variant=minbase", "--quiet", suite, str(tarball)],
                env={**os.environ, "TMPDIR": str(work)},
            )
            _remove_mmdebstrap_leftovers(work)
            if result.returncode == 0:
                break
            # Seen once: its final clean-up found /proc of the chroot still busy.
            print(f"  mmdebstrap failed ({result.returncode}); attempt {attempt} of 2")
            tarball.unlink(missing_ok=True)
        else:
            raise SystemExit("mmdebstrap failed twice")
        run([DOCKER, "import", "--change", 'CMD ["/bin/bash"]', str(tarball), LOCAL_BASE],
            stdout=subprocess.DEVNULL)
    return LOCAL_BASE


def _remove_mmdebstrap_leftovers(work: Path) -> None:
    """Unmount whatever a failed mmdebstrap left mounted under ``work``, then remove it."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    for point in sorted((m.split()[1] for m in mounts if m.split()[1].startswith(str(work))),
                        key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False)


def choose_base() -> tuple[str, bool]:
    """BASE_IMAGE if set; the public Debian image if present or pullable; else a local build.
    Returns the image and whether it was made (or pulled) here."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"], False
    for name in (PUBLIC_BASE, LOCAL_BASE):
        if image_exists(name):
            return name, False
    pulled = subprocess.run([DOCKER, "pull", "--quiet", PUBLIC_BASE], capture_output=True)
    if pulled.returncode == 0:
        return PUBLIC_BASE, True
    print("  no registry reachable: building the Debian base with mmdebstrap", flush=True)
    return build_local_base(), True


def fill_wheelhouse(context: Path, python: str = sys.executable) -> None:
    """Download the locked wheels (hash-checked) where the image build finds them. The host
    must match the image (Linux x86_64, CPython 3.11, glibc >= the image's), as Debian
    bookworm hosts do."""
    wheelhouse = context / "deploy" / "wheelhouse"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--require-hashes", "--only-binary=:all:", "--no-deps",
         "-r", str(context / "requirements.lock"), "-d", str(wheelhouse)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise SystemExit("pip download of the locked wheels failed:\n" + result.stderr[-3000:])


def build(tag: str, base: str, context: Path = ROOT, *, offline: bool = True,
          only_app: bool = False) -> dict[str, float]:
    """Build the images side by side (the database images mostly wait on apt's downloads);
    returns seconds per image."""
    secret = ["--secret", f"id=pip_ca,src={CA_BUNDLE}"] if CA_BUNDLE.exists() else []
    args = ["--build-arg", f"BASE_IMAGE={base}"]
    jobs = [(f"{APP_IMAGE}:{tag}", context / "Dockerfile", context,
             [*secret, "--build-arg", f"PIP_NO_INDEX={'1' if offline else ''}"])]
    if not only_app:
        for name, folder in ((POSTGRES_IMAGE, ROOT / "deploy/postgres"),
                             (REDIS_IMAGE, ROOT / "deploy/redis")):
            jobs.append((name, folder / "Dockerfile", folder, []))

    def one(job: tuple[str, Path, Path, list[str]]) -> float:
        name, dockerfile, folder, extra = job
        started = time.monotonic()
        result = subprocess.run(
            [DOCKER, "build", "--quiet", "-t", name, "-f", str(dockerfile), *args, *extra,
             str(folder)],
            env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise SystemExit(f"building {name} failed:\n{result.stderr[-4000:]}")
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return dict(zip([job[0] for job in jobs], pool.map(one, jobs), strict=True))


def image_size(name: str) -> int:
    out = subprocess.run(
        [DOCKER, "image", "inspect", "--format", "{{.Size}}", name],
        capture_output=True, text=True, check=True,
    ).stdout
    return int(out.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="image tag (default: the checkout's short commit)")
    parser.add_argument("--context", type=Path, default=ROOT, help="the gateway's source tree")
    options = parser.parse_args()
    tag = options.tag or git_tag(options.context)
    base, _ = choose_base()
    fill_wheelhouse(options.context)
    timings = build(tag, base, options.context)
    run([DOCKER, "tag", f"{APP_IMAGE}:{tag}", f"{APP_IMAGE}:latest"])
    for name, seconds in timings.items():
        print(f"  {name:<40} {image_size(name) / 1e6:7.0f} MB  built in {seconds:5.1f} s "
              f"(base {base})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
