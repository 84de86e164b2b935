"""A Docker engine for building and checking the stack: the one already running, or a private one.

Machines without a running engine (no systemd, nothing started at boot) get a private
``dockerd`` with its own data root, exec root, socket and pid file. Whoever starts it stops it
and puts the machine's network back as it found it: the ``docker0`` bridge and any other
bridge it made, the nftables tables it added, and ``net.ipv4.ip_forward``.

Usage from a script::

    with engine.running() as docker_host:
        subprocess.run(["/usr/bin/docker", "info"], env={**os.environ, "DOCKER_HOST": docker_host})

or from a shell (``make images`` uses this): ``python deploy/engine.py start|stop DIR``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The first ``docker`` on PATH may be a client without compose or BuildKit support.
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
SYSTEM_SOCKET = "unix:///var/run/docker.sock"
STATE_FILE = "engine-state.json"


class EngineError(RuntimeError):
    pass


@dataclass
class NetworkState:
    """What the engine may change on the host, read before it starts."""

    links: list[str] = field(default_factory=list)
    nft_tables: list[str] = field(default_factory=list)
    ip_forward: str = "0"


def _links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line)


def _nft_tables() -> list[str]:
    if not shutil.which("nft"):
        return []
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return sorted(line.removeprefix("table ").strip() for line in out.splitlines() if line)


def _ip_forward() -> str:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()


def read_network_state() -> NetworkState:
    return NetworkState(_links(), _nft_tables(), _ip_forward())


def answers(docker_host: str) -> bool:
    """True when an engine answers on ``docker_host``."""
    result = subprocess.run(
        [DOCKER, "version", "--format", "{{.Server.Version}}"],
        env={**os.environ, "DOCKER_HOST": docker_host},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode == 0 and bool(result.stdout.strip())


def start(root: Path, timeout: float = 60) -> str:
    """Start a private dockerd under ``root``; returns its DOCKER_HOST. Records the network state
    it found in ``root/engine-state.json`` so ``stop`` can restore it even from another process."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineError("dockerd is not installed (apt-get install docker.io docker-compose)")
    root.mkdir(parents=True, exist_ok=True)
    before = read_network_state()
    (root / STATE_FILE).write_text(json.dumps(asdict(before)))
    socket = root / "docker.sock"
    docker_host = f"unix://{socket}"
    log = (root / "dockerd.log").open("ab")
    subprocess.Popen(
        [
            dockerd,
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "dockerd.pid"),
            "-H", docker_host,
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if socket.exists() and answers(docker_host):
            return docker_host
        time.sleep(0.5)
    stop(root)
    raise EngineError(f"dockerd did not answer within {timeout:.0f} s; see {root}/dockerd.log")


def _pid(root: Path) -> int | None:
    try:
        return int((root / "dockerd.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Running (a zombie child of ours is reaped and counts as gone)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(root: Path, *, remove_data: bool = True) -> list[str]:
    """Stop the dockerd started under ``root`` and undo what it changed on the host.

    Returns what was cleaned, for the caller's log. Safe to call twice."""
    done: list[str] = []
    pid = _pid(root)
    if pid is not None and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        done.append(f"stopped dockerd (pid {pid})")
    state_file = root / STATE_FILE
    if state_file.exists():
        before = NetworkState(**json.loads(state_file.read_text()))
        done += restore_network(before)
        state_file.unlink()
    if remove_data and root.exists():
        _unmount_below(root)
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)
        done.append(f"removed {root}")
    return done


def restore_network(before: NetworkState) -> list[str]:
    """Remove links and nftables tables that were not there before; restore ip_forward."""
    done: list[str] = []
    for link in _links():
        if link not in before.links and (link == "docker0" or link.startswith(("br-", "veth"))):
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
            done.append(f"deleted link {link}")
    for table in _nft_tables():
        if table not in before.nft_tables:
            subprocess.run(["nft", "delete", "table", *table.split()], capture_output=True)
            done.append(f"deleted nft table {table}")
    if _ip_forward() != before.ip_forward:
        Path("/proc/sys/net/ipv4/ip_forward").write_text(before.ip_forward + "\n")
        done.append(f"net.ipv4.ip_forward back to {before.ip_forward}")
    return done


def _unmount_below(root: Path) -> None:
    """Overlay and netns mounts a killed engine may have left; rmtree cannot remove them."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = sorted(
        (line.split()[1] for line in mounts if line.split()[1].startswith(str(root))),
        key=len,
        reverse=True,
    )
    for point in points:
        subprocess.run(["umount", "-l", point], capture_output=True)


@contextlib.contextmanager
def running(root: Path | None = None) -> Iterator[tuple[str, bool]]:
    """Yield ``(DOCKER_HOST, started_here)``: an engine that already answers (DOCKER_HOST or the
    system socket) is used as it is; otherwise a private one is started and, on exit, stopped
    and cleaned up whatever happened inside the block."""
    for candidate in filter(None, [os.environ.get("DOCKER_HOST"), SYSTEM_SOCKET]):
        with contextlib.suppress(subprocess.TimeoutExpired, FileNotFoundError):
            if answers(candidate):
                yield candidate, False
                return
    root = root or Path(tempfile.mkdtemp(prefix="scan-gateway-engine-", dir="/var/tmp"))
    docker_host = start(root)
    try:
        yield docker_host, True
    finally:
        for line in stop(root):
            print(f"  cleanup: {line}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in {"start", "stop"}:
        print("usage: engine.py start|stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[2]).resolve()
    if argv[1] == "start":
        print(start(root))
    else:
        for line in stop(root):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
