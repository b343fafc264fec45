"""``manage.py run_embedded`` (what ``make run`` ends with): web, worker and beat start
on the embedded default, Ctrl-C stops all three, and one dying stops the others."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def embedded(tmp_path):
    """Start the supervisor on an empty embedded default; yield (process, port, log)."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SMARKETING_TESTING", "TEST_DATABASE_NAME"}
    }
    env.update(SMARKETING_VAR_DIR=str(tmp_path / "var"), NO_COLOR="1")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_embedded", "--port", str(port), "--grace", "20"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while "Smarketing is running" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.3)
        while "ready." not in log.read_text(errors="replace"):  # the worker's banner
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.3)
        yield proc, port, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serves_and_ctrl_c_stops_everything(embedded):
    proc, port, log = embedded
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        assert response.status == 200
    children = children_of(proc.pid)
    names = " ".join(children.values())
    assert "runserver" in names and " worker " in names and " beat " in names

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=40) == 0
    text = log.read_text(errors="replace")
    assert "SIGINT: stopping web, worker and beat" in text
    assert "all processes stopped" in text
    assert "Warm shutdown" in text  # the worker was asked once, not killed
    assert [pid for pid in children if alive(pid)] == []


def test_one_process_dying_stops_the_others(embedded):
    proc, _, log = embedded
    children = children_of(proc.pid)
    beat = next(pid for pid, cmd in children.items() if " beat " in cmd)
    os.kill(beat, signal.SIGKILL)
    assert proc.wait(timeout=40) == 1
    assert "beat exited with status -9" in log.read_text(errors="replace")
    assert [pid for pid in children if alive(pid)] == []
