"""``manage.py run_embedded``: web, Celery worker and Celery beat in one terminal.

What ``make run`` ends with. Three real processes on the embedded default (SQLite in
``var/``, kombu's filesystem broker; see settings.py), each in its own process group so
that Ctrl-C reaches only this supervisor, which then stops them in order:

- SIGINT or SIGTERM is forwarded once to every child (Celery does a warm shutdown);
- a second Ctrl-C, or children still alive after ``--grace`` seconds, get SIGKILL;
- when one child dies on its own, the others are stopped and the exit status is 1.

The children's output is prefixed with their name. On Linux they also get SIGTERM if
the supervisor itself is killed (``PR_SET_PDEATHSIG``), so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

COLORS = {"web": "\033[36m", "worker": "\033[33m", "beat": "\033[35m", "run": "\033[1m"}
RESET = "\033[0m"
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    popen: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    returncode: int | None = field(default=None)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


class Command(BaseCommand):
    help = "Run web, Celery worker and Celery beat together (the embedded default)."
    requires_system_checks: list[str] = []  # the web child runs them

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web", choices=["runserver", "gunicorn"], default="runserver")
        parser.add_argument("--pool", choices=["threads", "solo"], default="threads")
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--grace", type=float, default=15.0, help="seconds before SIGKILL")
        parser.add_argument("--no-beat", action="store_true")

    def handle(self, *args, **opts) -> None:
        host, port = opts["host"], opts["port"]
        self._check_port_free(host, port)
        self._color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        self._lock = threading.Lock()
        self._stop_signal: int | None = None
        self._signals_seen = 0

        children = self._children(opts)
        env = self._child_env(host, port)
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            # All processes first, reader threads after: fork + preexec_fn is only safe
            # while this process has a single thread.
            for child in children:
                child.popen = subprocess.Popen(  # noqa: S603 — our interpreter, fixed args
                    child.argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=settings.BASE_DIR,
                    process_group=0,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            for child in children:
                child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True)
                child.reader.start()
            status = self._supervise(children, host, port)
        finally:
            self._stop(children, opts["grace"])
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if status:
            raise CommandError(status)
        self._say("all processes stopped")

    # --- setup ---------------------------------------------------------------------

    def _check_port_free(self, host: str, port: int) -> None:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise CommandError(
                    f"{host}:{port} is not free ({exc.strerror}): stop what uses it, or pick "
                    f"another port: make run PORT={port + 1}"
                ) from None

    def _children(self, opts) -> list[Child]:
        py = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        address = f"{opts['host']}:{opts['port']}"
        if opts["web"] == "gunicorn":
            web = [py, "-m", "gunicorn", "smarketing.wsgi", "--bind", address,
                   "--workers", "2", "--access-logfile", "-"]  # fmt: skip
        else:
            web = [py, manage, "runserver", address, "--noreload"]
        queues = ",".join(settings.CELERY_TASK_QUEUES_NAMES)
        worker = [py, "-m", "celery", "-A", "smarketing", "worker", "-Q", queues,
                  "--pool", opts["pool"], "--concurrency", str(opts["concurrency"]),
                  "--hostname", "embedded@%h", "--without-gossip", "--without-mingle",
                  "-l", "info"]  # fmt: skip
        children = [Child("web", web), Child("worker", worker)]
        if not opts["no_beat"]:
            beat = [py, "-m", "celery", "-A", "smarketing", "beat", "-l", "info",
                    "--schedule", str(settings.CELERY_BEAT_SCHEDULE_FILENAME)]  # fmt: skip
            children.append(Child("beat", beat))
        return children

    def _child_env(self, host: str, port: int) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # Top-level apps (leads/, …) import from the checkout whatever the entry point.
        paths = [str(settings.BASE_DIR), *filter(None, env.get("PYTHONPATH", "").split(":"))]
        env["PYTHONPATH"] = ":".join(dict.fromkeys(paths))
        env.setdefault("DJANGO_SETTINGS_MODULE", "smarketing.settings")
        # Links in e-mails (invitations, password resets) point at this server.
        env.setdefault("SITE_URL", f"http://{host}:{port}")
        # The demo keeps receiving simulated website traffic so the queue moves.
        env.setdefault("DEMO_TRAFFIC", "1")
        if self._color:
            env.setdefault("FORCE_COLOR", "1")
        return env

    # --- running -------------------------------------------------------------------

    def _on_signal(self, signum: int, frame) -> None:
        self._signals_seen += 1
        if self._stop_signal is None:
            self._stop_signal = signum

    def _supervise(self, children: list[Child], host: str, port: int) -> str | None:
        announced = False
        while self._stop_signal is None:
            for child in children:
                if not child.alive:
                    child.returncode = child.popen.returncode if child.popen else None
                    return (
                        f"{child.name} exited with status {child.returncode}: "
                        "stopped the other processes"
                    )
            if not announced and self._listening(host, port):
                announced = True
                self._banner(host, port)
            time.sleep(0.2)
        self._say(f"{signal.Signals(self._stop_signal).name}: stopping web, worker and beat")
        return None

    def _listening(self, host: str, port: int) -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False

    def _stop(self, children: list[Child], grace: float) -> None:
        forwarded = self._stop_signal or signal.SIGTERM
        for child in children:
            if child.alive:
                child.signal_group(forwarded)
        deadline = time.monotonic() + grace
        signals_at_start = self._signals_seen
        while any(c.alive for c in children):
            if time.monotonic() > deadline or self._signals_seen > signals_at_start:
                for child in children:
                    if child.alive:
                        self._say(f"{child.name} still running: SIGKILL")
                        child.signal_group(signal.SIGKILL)
                break
            time.sleep(0.1)
        for child in children:
            if child.popen is not None:
                try:
                    child.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.signal_group(signal.SIGKILL)
                    child.popen.wait()
            # Group members that outlived their leader (e.g. a gunicorn worker).
            child.signal_group(signal.SIGKILL)
            if child.reader is not None:
                child.reader.join(timeout=2)

    def _pump(self, child: Child) -> None:
        assert child.popen is not None and child.popen.stdout is not None
        for raw in iter(child.popen.stdout.readline, b""):
            self._emit(child.name, raw.decode(errors="replace").rstrip("\n"))

    # --- output --------------------------------------------------------------------

    def _emit(self, name: str, line: str) -> None:
        prefix = f"{name:<6} | "
        if self._color:
            prefix = f"{COLORS.get(name, '')}{prefix}{RESET}"
        with self._lock:
            sys.stdout.write(f"{prefix}{line}\n")
            sys.stdout.flush()

    def _say(self, message: str) -> None:
        self._emit("run", message)

    def _banner(self, host: str, port: int) -> None:
        from smarketing.tenancy.models import Organization

        from .load_demo import DEMO_SLUG, logins_table

        rule = "=" * 72
        lines = [
            rule,
            f"Smarketing is running: http://{host}:{port}/",
            "web, Celery worker and beat on the embedded default "
            f"(SQLite and filesystem broker in {settings.VAR_DIR})",
            "",
        ]
        try:
            has_demo = Organization.objects.filter(slug=DEMO_SLUG).exists()
        except DatabaseError:  # not migrated yet: the web process says so
            has_demo = False
        if has_demo:
            lines += ["Demo logins (manage.py load_demo):", *logins_table().splitlines(), ""]
        lines += ["Ctrl-C stops everything.", rule]
        for line in lines:
            self._say(line)
