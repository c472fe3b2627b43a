"""The production process set on one machine: Redis, N daphne processes sharing one port,
and Celery workers. ``manage.py serve_prod`` runs it; docs/operations.md explains how each
part scales out across machines.

The parent opens the listening socket and every daphne inherits it (``--fd``), so the
kernel spreads connections across the processes without a separate load balancer.
If any child exits, the others are stopped and the parent exits non-zero: restarting the
whole set is the job of systemd, a container runtime or whoever runs it.
"""

import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

STOP_SECONDS = 15


class ProcessSetError(RuntimeError):
    pass


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class ProcessSet:
    host: str
    port: int
    web: int
    workers: int
    data_dir: Path
    redis_url: str = ""
    redis_port: int = 6379
    env: dict = field(default_factory=lambda: dict(os.environ))
    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def _spawn(self, label: str, argv: list[str], *, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
        process = subprocess.Popen(argv, env=self.env, pass_fds=pass_fds)  # noqa: S603
        self.children.append((label, process))
        logger.info("started %s (pid %s)", label, process.pid)
        return process

    def _redis_start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ProcessSetError("redis-server is not installed: run `make redis` or set REDIS_URL.")
        folder = self.data_dir / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "redis",
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--dir",
                str(folder),
                "--appendonly",
                "yes",
            ],
        )
        deadline = time.monotonic() + 10
        while not _listening(self.redis_port):
            if time.monotonic() > deadline:
                raise ProcessSetError(f"redis-server did not listen on 127.0.0.1:{self.redis_port}")
            time.sleep(0.1)

    def start(self) -> None:
        open_files_limit_raise()
        if not self.redis_url:
            self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        target = urlparse(self.redis_url)
        if target.hostname in ("127.0.0.1", "localhost") and not _listening(target.port or 6379):
            # A Redis on this machine that is not running yet: this set runs it.
            self.redis_port = target.port or 6379
            self._redis_start()
        self.env["REDIS_URL"] = self.redis_url
        self._metrics_folder_prepare()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1024)
        listener.set_inheritable(True)
        self.listener = listener
        bin_dir = Path(sys.executable).parent
        for number in range(1, self.web + 1):
            self._spawn(
                f"daphne-{number}",
                [
                    str(bin_dir / "daphne"),
                    "--fd",
                    str(listener.fileno()),
                    "--proxy-headers",
                    "helpdesk.asgi:application",
                ],
                pass_fds=(listener.fileno(),),
            )
        for number in range(1, self.workers + 1):
            self._spawn(f"celery-{number}", celery_worker_argv(number=number, bin_dir=bin_dir, data_dir=self.data_dir))

    def _metrics_folder_prepare(self) -> None:
        """Every process of the set writes its Prometheus samples here, and /metrics on any of
        them sums them up. Emptied at start: samples of processes that are gone would count."""
        if "PROMETHEUS_MULTIPROC_DIR" in self.env:
            return
        folder = self.data_dir / "prometheus"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)

    def wait(self) -> int:
        """Until a child exits or the set is asked to stop; returns the exit status for the parent."""
        stopping = False

        def ask_to_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, ask_to_stop)
        signal.signal(signal.SIGINT, ask_to_stop)
        while not stopping:
            for label, process in self.children:
                if process.poll() is not None:
                    logger.error(
                        "%s (pid %s) exited with %s; stopping the rest", label, process.pid, process.returncode
                    )
                    self.stop()
                    return 1
            time.sleep(0.5)
        self.stop()
        return 0

    def stop(self) -> None:
        # Web processes and workers first, so nothing is left mid-request; Redis last.
        groups = [
            [(label, process) for label, process in self.children if label != "redis"],
            [(label, process) for label, process in self.children if label == "redis"],
        ]
        for group in groups:
            for _, process in group:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + STOP_SECONDS
            for label, process in group:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    logger.warning("%s (pid %s) did not stop in time; killing it", label, process.pid)
                    process.kill()
                    process.wait()
        if getattr(self, "listener", None) is not None:
            self.listener.close()


def celery_worker_argv(*, number: int, bin_dir: Path, data_dir: Path) -> list[str]:
    """The first worker also runs Celery beat (webhook retries): exactly one beat per set, or
    each scheduled task would be queued once per beat."""
    argv = [str(bin_dir / "celery"), "-A", "helpdesk", "worker", "-n", f"worker{number}@%h", "-l", "INFO"]
    if number == 1:
        argv += ["--beat", "--schedule", str(data_dir / "celerybeat-schedule")]
    return argv


def open_files_limit_raise() -> int:
    """Raise this process's open-files soft limit to the hard limit; the children inherit it.

    Every websocket is a file descriptor in daphne (and more in Redis), and the usual soft limit
    of 1024 would stop one process at a few hundred chat sessions. Returns the new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft
