"""Keep one local LLM server process running on loopback, and restart it with backoff when it dies.

The model runs in a child process (``python -m copilot.local_llm.server``), so a llama.cpp crash
or an out-of-memory kill ends only that child. The supervisor starts it, counts it ready once
``GET /health`` answers 200 (llama.cpp answers 503 while it loads), notices when it exits, and
starts a new one after 1, 2, 4, … seconds, at most 60; the wait drops back to the first step once a
child has stayed up for ``stable_seconds``.

Its state goes to a small JSON status file, replaced atomically on every change, which other
processes (daphne's /health, through ``copilot.local_llm.health``) read without talking to it::

    {"state": "ready", "url": "http://127.0.0.1:8181", "pid": 4242, "restarts": 1,
     "last_exit_code": -9, "load_seconds": 2.4, "next_start_in": null, ...}

``state`` is ``starting`` (first load), ``ready``, ``restarting`` (a child died; waiting or
loading its replacement) or ``stopped``.

No orphans: ``stop()`` sends SIGTERM to the child's process group and SIGKILL after
``stop_timeout``; ``run()`` (the foreground entry point) calls it on SIGTERM, SIGINT and errors.
The child runs in its own session, so a Ctrl-C in the terminal reaches only the supervisor, which
then stops the child in order; and the child stops by itself if the supervisor is SIGKILLed.

Pure standard library, no Django.
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import FrameType

from copilot.local_llm.health import local_llm_http_get

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
STATE_STARTING = "starting"
STATE_READY = "ready"
STATE_RESTARTING = "restarting"
STATE_STOPPED = "stopped"
# `python -m copilot...` needs the project root on sys.path, whatever directory the caller is in.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class LocalLLMSupervisorError(RuntimeError):
    """The supervisor cannot keep the server running; the message says why."""


class LocalLLMStartError(LocalLLMSupervisorError):
    """The first server child did not become ready, so nothing is supervised."""


@dataclass(frozen=True)
class LocalLLMStatus:
    state: str
    url: str
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    load_seconds: float | None = None
    # Seconds of backoff before the next start, while state is "restarting".
    next_start_in: float | None = None
    supervisor_pid: int = field(default_factory=os.getpid)
    updated_at: float = 0.0


def local_llm_command_build(
    *,
    model: Path,
    port: int,
    threads: int,
    ctx: int,
    alias: str | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The argv of the real server child; tests give the supervisor a cheaper command instead.

    No API key here: a command line is visible to every user, so it goes in the environment.
    """
    command = [python, "-m", "copilot.local_llm.server", "--model", str(model), "--port", str(port)]
    command += ["--threads", str(threads), "--ctx", str(ctx)]
    if alias:
        command += ["--alias", alias]
    return command


def restart_delay_get(*, failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait before the next start after ``failures`` consecutive failed children (1-based)."""
    if failures < 1:
        return 0.0
    # Capping the exponent first keeps a long outage from overflowing the float.
    return min(initial * 2 ** min(failures - 1, 62), maximum)


def port_in_use_check(*, port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something already accepts connections on the port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LocalLLMSupervisor:
    """One supervised server child. ``run()`` in the foreground; ``start()``/``stop()`` to embed it."""

    def __init__(
        self,
        *,
        command: Sequence[str],
        port: int,
        status_file: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        cwd: Path = PROJECT_ROOT,
        ready_timeout: float = 300.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        stable_seconds: float = 60.0,
        stop_timeout: float = 10.0,
        poll_interval: float = 0.2,
        health_timeout: float = 0.5,
    ) -> None:
        self.command = list(command)
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"
        self.status_file = status_file
        self.extra_env = dict(extra_env or {})
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_seconds = stable_seconds
        self.stop_timeout = stop_timeout
        self.poll_interval = poll_interval
        self.health_timeout = health_timeout

        # Guards the child handle and the status (and so the order of status file writes).
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._child: subprocess.Popen | None = None
        self._child_ready_at: float | None = None
        self._watcher: threading.Thread | None = None
        self._started = False
        self._first_start_done = threading.Event()
        self._first_start_error = ""
        self._watch_error = ""
        self._failures = 0
        self._status = LocalLLMStatus(state=STATE_STOPPED, url=self.url)

    # ------------------------------------------------------------ public

    @property
    def status(self) -> LocalLLMStatus:
        with self._lock:
            return self._status

    def start(self) -> None:
        """Start the child, wait until it answers /health, then watch it from a background thread.

        Raises ``LocalLLMStartError`` if the first child exits or is not ready in ``ready_timeout``:
        a failure on the very first start is a configuration problem to report, not to retry.
        """
        with self._lock:
            if self._started:
                raise RuntimeError("A LocalLLMSupervisor starts once; make a new one.")
            self._started = True
        if port_in_use_check(port=self.port):
            self._status_update(state=STATE_STOPPED)
            raise LocalLLMStartError(
                f"Port {self.port} on {LOOPBACK} is already in use, perhaps by a server left from an earlier run; "
                "stop it or choose another port."
            )
        self._status_update(state=STATE_STARTING)
        # Every child is spawned from the watcher thread: Python runs signal handlers in the main
        # thread only, so a Ctrl-C can never land between a spawn and the line that records the
        # child, which would leave a child nobody stops.
        self._watcher = threading.Thread(target=self._supervise, name="local-llm-supervisor", daemon=True)
        self._watcher.start()
        while not self._first_start_done.wait(0.5):
            pass
        if self._first_start_error:
            self._watcher.join()
            raise LocalLLMStartError(f"The local LLM server did not start: {self._first_start_error}.")

    def stop(self) -> None:
        """Stop supervising and end the child: SIGTERM, then SIGKILL after ``stop_timeout``. Idempotent."""
        self._stopping.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            # After this no new child can appear. The watcher only ever sleeps on the event, waits a
            # bounded health request, or stops a child within stop_timeout.
            watcher.join(timeout=self.stop_timeout + self.health_timeout + self.poll_interval + 5.0)
        exit_code = self._child_terminate()
        with self._lock:
            last_exit_code = exit_code if exit_code is not None else self._status.last_exit_code
            self._status_update(state=STATE_STOPPED, pid=None, next_start_in=None, last_exit_code=last_exit_code)

    def run(self) -> None:
        """Start and supervise in the foreground until SIGTERM or SIGINT; the child never outlives this call."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_raise) if in_main_thread else None
        # Started in the background by a shell without job control, a process inherits SIGINT
        # ignored and Python leaves it so: "until SIGINT" must hold there too.
        previous_sigint = signal.signal(signal.SIGINT, signal.default_int_handler) if in_main_thread else None
        try:
            self.start()
            logger.info("Local LLM server ready at %s/v1 (pid %s)", self.url, self.status.pid)
            while not self._stopping.wait(1.0):
                pass
            if self._watch_error:
                raise LocalLLMSupervisorError(self._watch_error)
        except KeyboardInterrupt:
            logger.info("Local LLM supervisor: stop requested")
        finally:
            # A second Ctrl-C must not interrupt the clean-up half-way and leave the child behind;
            # stop() is bounded by stop_timeout anyway.
            if in_main_thread:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                self.stop()
            finally:
                if in_main_thread:
                    signal.signal(signal.SIGINT, previous_sigint)
                    signal.signal(signal.SIGTERM, previous_sigterm)

    # ------------------------------------------------------------ the child

    def _child_start(self) -> str:
        """Spawn a child and wait until it is ready; an empty string on success, else why not."""
        with self._lock:
            if self._stopping.is_set():
                return "the supervisor is stopping"
            env = {**os.environ, **self.extra_env}
            try:
                child = subprocess.Popen(  # noqa: S603 - argv from local_llm_command_build or a test, no shell
                    self.command,
                    cwd=self.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    # Its own process group: Ctrl-C reaches only us, and stop() can signal the whole group.
                    start_new_session=True,
                )
            except OSError as exc:
                return f"{self.command[0]} could not be run: {exc}"
            self._child = child
            self._child_ready_at = None
            self._status_update(pid=child.pid)
        logger.info("Local LLM server starting (pid %s): %s", child.pid, " ".join(self.command))
        started = time.monotonic()
        deadline = started + self.ready_timeout
        while True:
            exit_code = child.poll()
            if exit_code is not None:
                self._status_update(last_exit_code=exit_code)
                return f"it exited with code {exit_code} before it was ready"
            status, _, _ = local_llm_http_get(url=f"{self.url}/health", timeout=self.health_timeout)
            # The port was free before the spawn, so a 200 can only come from our child.
            if status == 200:
                break
            if time.monotonic() > deadline:
                return f"it did not answer /health within {self.ready_timeout:.0f} s"
            if self._stopping.wait(self.poll_interval):
                return "the supervisor is stopping"
        load_seconds = round(time.monotonic() - started, 3)
        with self._lock:
            self._child_ready_at = time.monotonic()
            self._status_update(state=STATE_READY, load_seconds=load_seconds, next_start_in=None)
        logger.info("Local LLM server ready (pid %s) after %.1f s", child.pid, load_seconds)
        return ""

    def _child_terminate(self) -> int | None:
        """End the current child if it still runs and reap it; its exit code, or None if there was none."""
        with self._lock:
            child = self._child
        if child is None:
            return None
        if child.poll() is None:
            # Not reaped yet, so its pid (and group id) cannot have been reused.
            self._group_signal(child, signal.SIGTERM)
            try:
                child.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "Local LLM server (pid %s) ignored SIGTERM for %.0f s; killing it", child.pid, self.stop_timeout
                )
                self._group_signal(child, signal.SIGKILL)
                child.wait()
        return child.returncode

    @staticmethod
    def _group_signal(child: subprocess.Popen, signum: int) -> None:
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            child.send_signal(signum)

    # ------------------------------------------------------------ watching

    def _supervise(self) -> None:
        try:
            error = self._child_start()
        except Exception as exc:
            logger.exception("Local LLM supervisor failed while starting the server")
            error = f"the supervisor failed: {exc}"
        if error:
            exit_code = self._child_terminate()
            with self._lock:
                last_exit_code = exit_code if exit_code is not None else self._status.last_exit_code
                self._status_update(state=STATE_STOPPED, pid=None, last_exit_code=last_exit_code)
            self._first_start_error = error
            self._first_start_done.set()
            return
        self._first_start_done.set()
        try:
            self._watch()
        except Exception as exc:
            # Unsupervised is worse than stopped: run() stops the child and raises.
            logger.exception("Local LLM supervisor failed; stopping the server")
            self._watch_error = f"The local LLM supervisor failed: {exc}"
            self._stopping.set()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                child = self._child
            exit_code = child.poll() if child is not None else None
            if exit_code is None:
                self._stopping.wait(self.poll_interval)
                continue
            self._child_restart(exit_code=exit_code)

    def _child_restart(self, *, exit_code: int) -> None:
        with self._lock:
            pid = self._child.pid if self._child is not None else None
            ready_at = self._child_ready_at
        uptime = time.monotonic() - ready_at if ready_at is not None else 0.0
        # A child that served for a while proves the setup works: start the backoff over.
        if uptime >= self.stable_seconds:
            self._failures = 0
        self._failures += 1
        self._status_update(last_exit_code=exit_code)
        while not self._stopping.is_set():
            delay = restart_delay_get(failures=self._failures, initial=self.backoff_initial, maximum=self.backoff_max)
            logger.warning(
                "Local LLM server (pid %s) exited with code %s after %.1f s up; restarting in %.1f s (failure %d)",
                pid,
                self._status.last_exit_code,
                uptime,
                delay,
                self._failures,
            )
            self._status_update(state=STATE_RESTARTING, pid=None, next_start_in=delay)
            if self._stopping.wait(delay):
                return
            if port_in_use_check(port=self.port):
                error = f"port {self.port} is in use by another process"
            else:
                with self._lock:
                    self._status_update(restarts=self._status.restarts + 1, next_start_in=None)
                error = self._child_start()
            if not error:
                return
            if self._stopping.is_set():
                return
            logger.warning("Local LLM server restart failed: %s", error)
            exit_code = self._child_terminate()
            if exit_code is not None:
                self._status_update(last_exit_code=exit_code)
            with self._lock:
                pid = self._child.pid if self._child is not None else None
            uptime = 0.0
            self._failures += 1

    # ------------------------------------------------------------ status

    def _status_update(self, **changes: object) -> None:
        with self._lock:
            self._status = replace(self._status, **changes, updated_at=round(time.time(), 3))
            self._status_write(self._status)

    def _status_write(self, status: LocalLLMStatus) -> None:
        if self.status_file is None:
            return
        path = self.status_file
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps(asdict(status)), encoding="utf-8")
            # A reader sees the old file or the new one, never half of one.
            os.replace(temp, path)
        except OSError as exc:
            logger.warning("Local LLM status file %s could not be written: %s", path, exc)


def _sigterm_raise(signum: int, frame: FrameType | None) -> None:
    # Same path as Ctrl-C, so `finally` blocks run and the child is stopped.
    raise KeyboardInterrupt
