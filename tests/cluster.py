"""A real multi-process deployment for tests: daphne processes, redis-server, Celery workers, a scratch database.

``running_cluster(name)`` creates database ``<TEST_DATABASE_NAME>_<name>`` as a copy of one
migrated and seeded like ``make run`` (with a small knowledge base; seeded once per test
session, dropped at exit), starts Redis on a free port
(append-only file on, so a restarted Redis keeps its queues), ``web`` daphne processes
and one Celery worker, and yields a ``Cluster`` that can kill and restart each part.
Everything is stopped and the database dropped on exit. Logs go to ``.data/<name>/``.

It is a plain module, not a fixture, so each test module wraps it in a fixture of the
scope and configuration it needs (``extra_env`` reaches every process).
"""

import asyncio
import atexit
import concurrent.futures
import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import websockets

from tests.e2e.conftest import ROOT, SEED, _admin, _free_port, _server_url, wait_http

BIN = Path(sys.executable).parent


def _stop(process: subprocess.Popen, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after 15 s; ``group`` takes the process's session (a worker's pool) along."""

    def signal_it(number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, number) if group else process.send_signal(number)

    if process.poll() is None:
        signal_it(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            signal_it(signal.SIGKILL)
            process.wait(timeout=5)
    elif group:
        # The leader is gone; orphaned pool processes may not be.
        signal_it(signal.SIGKILL)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def children_of(parent: int) -> list[int]:
    """The live processes whose parent is ``parent`` (from /proc, so no psutil needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@dataclass
class Cluster:
    name: str
    env: dict
    logs: Path
    database_url: str
    redis_port: int
    web_ports: list[int]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # Every process ever started, so teardown also stops the replaced ones.
    started: list[subprocess.Popen] = field(default_factory=list)
    # Session leaders (workers): stopped with their whole process group.
    groups: set[int] = field(default_factory=set)

    @property
    def hosts(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.web_ports]

    def start(self, label: str, command: list[str], *, own_group: bool = False) -> subprocess.Popen:
        log = open(self.logs / f"{label}.log", "a")  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=own_group
        )
        log.close()
        if own_group:
            self.groups.add(process.pid)
        self.processes[label] = process
        self.started.append(process)
        return process

    # ---------------------------------------------------------------- Redis

    def redis_start(self) -> subprocess.Popen:
        """Start (or restart) redis-server on the cluster's port, reloading its append-only file."""
        folder = self.logs / "redis-data"
        folder.mkdir(exist_ok=True)
        process = self.start(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                *("--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(folder)),
                # Production runs with the append-only file on (helpdesk/processes.py); "always" so a
                # kill loses no acknowledged write and a test can count on the queue surviving.
                *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
            ],
        )
        deadline = time.monotonic() + 10
        while not _listening(self.redis_port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not listen on {self.redis_port}; see {self.logs}/redis.log")
            time.sleep(0.05)
        return process

    def redis_kill(self) -> None:
        """SIGKILL: no shutdown save, clients see their connections reset."""
        process = self.processes["redis"]
        process.kill()
        process.wait(timeout=10)

    # ---------------------------------------------------------------- Celery

    def worker_start(self, label: str = "celery", *, pool: str = "solo") -> subprocess.Popen:
        """A worker in a session of its own, so ``worker_kill`` can take its pool children with it."""
        command = [str(BIN / "celery"), "-A", "helpdesk", "worker", "-n", f"{label}@%h", "-l", "INFO"]
        command += ["--pool=solo"] if pool == "solo" else [f"--pool={pool}", "--concurrency=1"]
        return self.start(label, command, own_group=True)

    def worker_kill(self, label: str = "celery") -> None:
        """SIGKILL the worker and its pool processes at once, as when its machine dies."""
        process = self.processes[label]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def worker_ready(self, label: str = "celery", *, seconds: float = 60) -> None:
        """Until the worker's log says it is consuming."""
        deadline = time.monotonic() + seconds
        log = self.logs / f"{label}.log"
        while time.monotonic() < deadline:
            if self.processes[label].poll() is not None:
                raise RuntimeError(f"worker {label} exited; see {log}")
            if " ready." in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {label} did not get ready; see {log}")

    # ---------------------------------------------------------------- the database

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read the cluster's database directly: what is stored, not what an API says."""
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()

    def alive(self, label: str) -> bool:
        return self.processes[label].poll() is None


# Server URL -> a database migrated and seeded once per test session, copied for each cluster.
_templates: dict[str, str] = {}


def _seeded_template(server: str) -> str:
    """Migrate and seed like ``make run`` once; each cluster starts from a copy (about a second, not 25)."""
    if server in _templates:
        return _templates[server]
    template = os.environ.get("TEST_DATABASE_NAME", "test_postgres") + "_cluster_seed"
    with _admin(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{template}"')
    env = {
        **os.environ,
        "DATABASE_URL": urllib.parse.urlparse(server)._replace(path=f"/{template}").geturl(),
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.local",
        # No Redis yet: eager tasks index the knowledge base here, so no worker starts a test busy embedding it.
        "REDIS_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "COPILOT_ENGINE": "offline",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp"),  # noqa: S108
    }
    log = ROOT / ".data" / "cluster-seed.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as output:
        seeded = subprocess.run(  # noqa: S603
            [sys.executable, "-c", SEED], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, timeout=600
        )
    if seeded.returncode:
        raise RuntimeError(f"seeding the cluster's database failed; see {log}")
    _templates[server] = template

    def drop() -> None:
        with contextlib.suppress(Exception), _admin(server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')

    atexit.register(drop)
    return template


@contextlib.contextmanager
def running_cluster(
    name: str, *, web: int = 2, worker: str | None = "solo", extra_env: dict | None = None
) -> Iterator[Cluster]:
    """Migrate and seed a scratch database, then run Redis, ``web`` daphne processes and a worker.

    ``worker`` is the Celery pool ("solo", "prefork"), or None for no worker.
    """
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is missing: `make test` installs Debian's redis-server package")
    database = os.environ.get("TEST_DATABASE_NAME", "test_postgres") + f"_{name}"
    server = _server_url()
    template = _seeded_template(server)
    with _admin(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    database_url = urllib.parse.urlparse(server)._replace(path=f"/{database}").geturl()
    redis_port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.local",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "COPILOT_ENGINE": "offline",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp"),  # noqa: S108
        **(extra_env or {}),
    }
    logs = ROOT / ".data" / name
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    cluster = Cluster(
        name=name,
        env=env,
        logs=logs,
        database_url=database_url,
        redis_port=redis_port,
        web_ports=[_free_port() for _ in range(web)],
    )
    try:
        cluster.redis_start()
        for label, port in zip("abcdefgh", cluster.web_ports, strict=False):
            cluster.start(
                f"daphne-{label}",
                [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "helpdesk.asgi:application"],
            )
        if worker:
            cluster.worker_start(pool=worker)
        for label, port in zip("abcdefgh", cluster.web_ports, strict=False):
            wait_http(f"http://127.0.0.1:{port}/health", cluster.processes[f"daphne-{label}"])
        yield cluster
    finally:
        # Redis last: workers and web processes stop cleanly only while they can still reach it.
        for process in sorted(reversed(cluster.started), key=lambda p: p is cluster.processes.get("redis")):
            _stop(process, group=process.pid in cluster.groups)
        with _admin(server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# ---------------------------------------------------------------- clients, as the browser code speaks


def agent_cookie(host: str, username: str = "jana", password: str = "agent-demo-pass") -> str:  # noqa: S107
    """Sign in through the console's real login form (CSRF included) and return the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"http://{host}/console/login/", timeout=10).read().decode()  # noqa: S310
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310
        f"http://{host}/console/login/", data=form, headers={"Referer": f"http://{host}/console/login/"}
    )
    opener.open(request, timeout=10)
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def post_json(url: str, body: dict, headers: dict | None = None) -> dict:
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def get_json(url: str, cookie: str) -> dict:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def run_async(coroutine):
    """Run a coroutine on a fresh event loop in another thread.

    Sync Playwright (the e2e tests) leaves an event loop on the main thread; a thread of
    our own has none, whichever plugins are loaded.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def until(condition, *, seconds: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(step)


class _ReconnectingSocket:
    """A socket that reconnects with backoff after any close, like the browser code does."""

    def __init__(self, url: str, origin: str, headers: dict | None = None):
        self.url, self.origin, self.headers = url, origin, headers or {}
        self.socket = None
        self.opened = 0  # how many times a socket opened
        self.close_codes: list[int | None] = []
        self.frames: list[dict] = []
        self._task: asyncio.Task | None = None

    @property
    def online(self) -> bool:
        return self.socket is not None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        retries = 0
        while True:
            socket = None
            try:
                socket = await websockets.connect(
                    self.url, origin=self.origin, additional_headers=self.headers, open_timeout=5
                )
                self.opened += 1
                await self.opening(socket)
                async for raw in socket:
                    frame = json.loads(raw)
                    self.frames.append(frame)
                    if await self.handle(socket, frame):
                        retries = 0
            except (OSError, TimeoutError, websockets.ConnectionClosed, websockets.InvalidHandshake):
                pass
            finally:
                self.socket = None
                if socket is not None:
                    await socket.close()
            self.close_codes.append(socket.close_code if socket is not None else None)
            # The widget backs off from 1 s to 30 s; shorter here, the same shape.
            await asyncio.sleep(min(2.0, 0.2 * 2**retries))
            retries += 1

    async def opening(self, socket) -> None:
        raise NotImplementedError

    async def handle(self, socket, frame: dict) -> bool:
        """Returns whether the socket is now healthy (resets the backoff)."""
        raise NotImplementedError


class WidgetClient(_ReconnectingSocket):
    """The customer's widget (helpdesk/static/widget/widget.js), its socket logic only.

    Each open sends ``resume`` with the highest message id drawn; after ``resumed`` the
    outbox (messages not acked yet) goes out again with the same ``client_id``. Messages
    are held by id, as the widget draws them (a message replayed by ``resume`` that also came
    live is drawn once); ``deliveries`` counts every message frame.
    """

    def __init__(self, host: str, token: str):
        super().__init__(f"ws://{host}/ws/chat/{token}/", f"http://{host}")
        self.last_id = 0
        self.held: dict[int, dict] = {}
        self.deliveries: dict[int, int] = {}
        # The same id delivered again with other content: two different messages under one id.
        self.conflicts: list[tuple[dict, dict]] = []
        self.outbox: dict[str, str] = {}
        self.acks: dict[str, int] = {}
        self.done: set[int] = set()
        self.pongs = 0

    async def opening(self, socket) -> None:
        await socket.send(json.dumps({"type": "resume", "last_id": self.last_id}))

    async def handle(self, socket, frame: dict) -> bool:
        kind = frame.get("type")
        if kind == "resumed":
            self.socket = socket
            await socket.send(json.dumps({"type": "ping"}))
            for client_id, text in list(self.outbox.items()):
                await socket.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
            return True
        if kind == "ack":
            self.outbox.pop(frame["client_id"], None)
            self.acks[frame["client_id"]] = frame["id"]
        elif kind == "message":
            message = frame["message"]
            self.deliveries[message["id"]] = self.deliveries.get(message["id"], 0) + 1
            self.last_id = max(self.last_id, message["id"])
            if self.held.setdefault(message["id"], message) != message:
                self.conflicts.append((self.held[message["id"]], message))
        elif kind == "reply_done":
            self.done.add(frame["reply_to"])
        elif kind == "pong":
            self.pongs += 1
        return False

    async def say(self, text: str, client_id: str) -> None:
        """Queue a message; it goes out now if the socket is up, else after the next ``resumed``."""
        self.outbox[client_id] = text
        if self.socket is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.socket.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))

    async def acked(self, client_id: str, *, seconds: float = 20) -> int:
        await until(lambda: client_id in self.acks, seconds=seconds, what=f"the ack of {client_id}")
        return self.acks[client_id]


class ConsoleClient(_ReconnectingSocket):
    """An agent's console (helpdesk/static/console/socket.js and live.js), for one conversation.

    Holds that conversation's messages by id: from live ``message`` frames, and after each
    reconnect from the REST transcript (the console's ``resync``).
    """

    def __init__(self, host: str, cookie: str):
        super().__init__(f"ws://{host}/ws/console/", f"http://{host}", {"Cookie": cookie})
        self.host, self.cookie = host, cookie
        self.conversation: int | None = None
        self.held: dict[int, dict] = {}
        self.live: list[dict] = []  # message frames that came over the socket

    async def opening(self, socket) -> None:
        self.socket = socket
        if self.conversation is not None:
            await socket.send(json.dumps({"type": "watch", "conversation": self.conversation}))
        if self.opened > 1 and self.conversation is not None:
            await self.load()

    async def load(self) -> None:
        """The REST transcript, as the console loads it on selecting a conversation and after a reconnect."""
        data = await asyncio.to_thread(
            get_json, f"http://{self.host}/api/conversations/{self.conversation}/messages", self.cookie
        )
        for message in data["messages"]:
            self.held.setdefault(message["id"], message)

    async def handle(self, socket, frame: dict) -> bool:
        if frame.get("type") == "message" and frame.get("conversation") == self.conversation:
            self.live.append(frame["message"])
            self.held.setdefault(frame["message"]["id"], frame["message"])
        return frame.get("type") == "presence"

    async def watch(self, conversation: int) -> None:
        self.conversation = conversation
        if self.socket is not None:
            await self.socket.send(json.dumps({"type": "watch", "conversation": conversation}))
        await self.load()
