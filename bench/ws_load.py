"""Websocket load: N concurrent customer chats against the production process set.

The bench builds a scratch database seeded with the demo shop, starts the model stub
(``bench/llm_stub.py``: 300 ms, then 50 tokens at 50 tokens/s) and ``manage.py serve_prod``
(``--web`` daphne processes sharing one loopback port, one Celery worker, its own Redis on a
free port) with the openai engine pointed at the stub. Then it ramps customer sessions in
steps. Each session does what the widget does (``helpdesk/static/widget/widget.js``): it
starts a conversation over the widget REST API (anonymous, or one in four as a verified demo
customer with the identity hash a shop's backend would compute), reads the history, opens
``ws/chat/<token>/`` with an Origin, sends ``resume``, pings every 25 s, and writes a message
(with a ``client_id``) after a think time, waits for the answer, thinks again. Every visitor
gets its own address in X-Forwarded-For (198.18.0.0/15, the benchmarking range) with
X-Forwarded-Proto https, as the TLS proxy in front of production would send them; the
connections themselves are all loopback.

Per step, over a measurement window once the step's sessions are connected: sessions held,
messages per second, the time to first token (message sent -> first ``token`` frame) minus
the model's own wait (300 ms; 600 ms with ``--profile full``, whose analysis call comes
first) at p50/p95/p99, the ack and full-answer times, errors, and the server-side part of
it from the turns' traces. After each step the sessions pause, in-flight answers finish,
and the database is checked: one customer row per client_id sent, one bot answer per
customer row, and the answer each client received (lost: no row, no answer, or the answer
never reached the client; duplicated: two rows, two answers, or an answer received twice).
CPU and RSS of every process (daphne, Celery, Redis, PostgreSQL backends of the scratch
database, the stub, this client) are sampled once a second with psutil.

Targets on the 2-core reference machine: 1,000 concurrent sessions with 0 lost or
duplicated messages and p95 TTFT overhead <= 250 ms (stretch: 5,000). The knee is the first
step that misses the overhead target or has any error, loss or duplicate.

    .venv/bin/python bench/ws_load.py                       # steps 100,250,500,1000, think 30-60 s, 120 s each
    .venv/bin/python bench/ws_load.py --steps 50,200 --duration 60
    .venv/bin/python bench/ws_load.py --steps 1000,2000,5000 --web 2 --profile full
"""

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import _admin_conninfo, scratch_attach, scratch_django, scratch_drop  # noqa: E402

DB_NAME = "bench_ws_load"
STUB_DELAY = 0.3
TARGET_SESSIONS = 1000
TARGET_P95_OVERHEAD_MS = 250.0
# The widget's keep-alive ping (PING_MS in widget.js).
PING_SECONDS = 25.0
# A step whose messages fail more often than this has collapsed: higher steps are not run.
COLLAPSE_RATE = 0.2
MESSAGES = {
    "en": [
        "How do I return an item?",
        "How do I reset my password?",
        "What payment methods do you accept?",
        "Can I change my delivery address?",
        "How long does delivery take?",
        "The app crashes when I open it",
        "Do you ship to Slovakia?",
        "How do I cancel my order?",
        "Can I get an invoice for my purchase?",
        "Thanks, that solved it!",
    ],
    "cs": [
        "Jak vrátit zboží?",
        "Zapomněl jsem heslo",
        "Můžete mi pomoci s reklamací?",
        "Jak dlouho trvá doručení?",
        "Jak zruším objednávku?",
        "Děkuji za pomoc, jste velmi vstřícní",
    ],
}
# Only a verified customer has orders the copilot can look up.
CUSTOMER_MESSAGES = {
    "en": ["Where is my order {order}?", "My parcel is late, can you check order {order}?", "Can I return my order?"],
    "cs": ["Kde je moje objednávka {order}?", "Kde je moje zásilka?"],
}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def spread(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values), 1),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get_json(url: str, *, headers: dict | None = None, timeout: float = 5.0) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback URLs we built)
    # No proxy from the environment: every request of this bench stays on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def raise_fd_limit(wanted: int) -> tuple[int, int]:
    """Raise this process's open-files limit (inherited by every server it starts) towards ``wanted``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# ---------------------------------------------------------------- the servers


@dataclass
class Cluster:
    """The stub and ``serve_prod``, each a child of this process, with their logs in ``folder``."""

    web: int
    workers: int
    profile: str
    db_url: str
    folder: Path
    port: int = 0
    stub_port: int = 0
    redis_port: int = 0
    identity_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    stub: subprocess.Popen | None = None
    serve: subprocess.Popen | None = None
    logs: list = field(default_factory=list)
    # Extra settings for the servers (--env), e.g. DB_CONN_MAX_AGE=0 to try a configuration.
    extra_env: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stub_base(self) -> str:
        return f"http://127.0.0.1:{self.stub_port}"

    def _log(self, name: str):
        handle = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 (closed in stop)
        self.logs.append(handle)
        return handle

    def start(self) -> None:
        self.port, self.stub_port, self.redis_port = free_port(), free_port(), free_port()
        self.stub = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "bench.llm_stub", "--port", str(self.stub_port), "--delay", str(STUB_DELAY)],
            cwd=ROOT,
            stdout=self._log("stub"),
            stderr=subprocess.STDOUT,
        )
        self._wait(f"{self.stub_base}/health", self.stub, "the model stub", seconds=30)
        env = {k: v for k, v in os.environ.items() if k not in ("CELERY_TASK_ALWAYS_EAGER", "EMBEDDED_PG_DIR")}
        env.update(
            DJANGO_SETTINGS_MODULE="helpdesk.settings.production",
            DATABASE_URL=self.db_url,
            DATA_DIR=str(self.folder / "data"),
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            WIDGET_IDENTITY_SECRET=self.identity_secret,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            COPILOT_ENGINE="openai",
            COPILOT_LLM_PROFILE=self.profile,
            COPILOT_MODEL="stub",
            OPENAI_BASE_URL=f"{self.stub_base}/v1",
            OPENAI_API_KEY="bench",
            # Escalations of verified customers would mail them; nothing may leave the machine.
            EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
            XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"),  # noqa: S108
            PYTHONUNBUFFERED="1",
            NO_PROXY="127.0.0.1,localhost",
        )
        env.update(self.extra_env)
        self.serve = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "manage.py",
                "serve_prod",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--web",
                str(self.web),
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log("serve_prod"),
            stderr=subprocess.STDOUT,
            # Its own process group, so a Ctrl-C meant for the bench reaches it only through stop().
            start_new_session=True,
        )
        self._wait(f"{self.base}/health", self.serve, "serve_prod", seconds=180, headers=PROXY_HEADERS)

    def _wait(self, url: str, process: subprocess.Popen, name: str, *, seconds: float, headers=None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.folder}")
            try:
                if http_get_json(url, headers=headers, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{name} did not answer {url} within {seconds:.0f} s; see {self.folder}")

    def processes(self) -> dict[str, "psutil.Process"]:  # noqa: F821
        """Every process of the set by role: daphne-N, celery (and its pool), redis, stub, the parent."""
        import psutil

        found = {"serve_prod": psutil.Process(self.serve.pid), "stub": psutil.Process(self.stub.pid)}
        daphnes, celery_pool = [], []
        for child in found["serve_prod"].children(recursive=True):
            try:
                line = " ".join(child.cmdline())
                parent = child.ppid()
            except psutil.Error:
                continue
            if "redis-server" in line:
                found["redis"] = child
            elif "daphne" in line:
                daphnes.append(child)
            elif "celery" in line and parent == self.serve.pid:
                found.setdefault("celery", child)
            elif "celery" in line:
                celery_pool.append(child)
        for number, child in enumerate(sorted(daphnes, key=lambda p: p.pid), start=1):
            found[f"daphne-{number}"] = child
        for number, child in enumerate(sorted(celery_pool, key=lambda p: p.pid), start=1):
            found[f"celery-pool-{number}"] = child
        return found

    def sockets_by_process(self) -> dict[str, int]:
        """Established connections each daphne process holds on the shared port: how evenly the kernel spread them."""
        import psutil

        counts = {}
        for label, process in self.processes().items():
            if label.startswith("daphne"):
                try:
                    connections = process.net_connections(kind="tcp")
                except psutil.Error:
                    continue
                established = [c for c in connections if c.status == psutil.CONN_ESTABLISHED]
                counts[label] = sum(1 for c in established if c.laddr and c.laddr.port == self.port)
        return counts

    def error_lines(self) -> dict[str, int]:
        """ERROR lines and tracebacks in the servers' log, by logger, so a quiet failure still shows."""
        counts: dict[str, int] = defaultdict(int)
        path = self.folder / "serve_prod.log"
        if not path.exists():
            return {}
        with path.open(errors="replace") as handle:
            for number, line in enumerate(handle):
                if number > 5_000_000:
                    break
                if " ERROR " in line:
                    parts = line.split(" ERROR ", 1)[1].split(" ", 1)
                    counts[parts[0]] += 1
                elif line.startswith("Traceback"):
                    counts["Traceback"] += 1
        return dict(counts)

    def stop(self) -> None:
        for process in (self.serve, self.stub):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.serve, self.stub):
            if process is None:
                continue
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for handle in self.logs:
            handle.close()


PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.18.0.1"}


# ---------------------------------------------------------------- resource sampling


class Sampler(threading.Thread):
    """CPU, RSS, open files and threads of each process once a second; Redis and PostgreSQL counters."""

    def __init__(self, cluster: Cluster, db_name: str, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.cluster, self.db_name, self.interval = cluster, db_name, interval
        self.samples: list[tuple[float, dict]] = []
        self.stopping = threading.Event()
        self.limits: dict[str, str] = {}

    def run(self) -> None:
        import psutil
        import redis

        tracked: dict = {}

        def discover() -> None:
            # Celery's pool children may start after /health answers; keep the objects cpu_percent remembers.
            known = {process.pid: process for process in tracked.values()}
            found = self.cluster.processes()
            found["bench"] = psutil.Process(os.getpid())
            for label, process in found.items():
                if label in tracked and tracked[label].pid == process.pid:
                    continue
                tracked[label] = known.get(process.pid, process)
                with contextlib.suppress(psutil.Error):
                    tracked[label].cpu_percent(None)
                    soft, hard = tracked[label].rlimit(psutil.RLIMIT_NOFILE)
                    self.limits[label] = f"{soft}/{hard}"

        discover()
        backends: dict[int, psutil.Process] = {}
        store = redis.Redis(host="127.0.0.1", port=self.cluster.redis_port, socket_timeout=2)
        pg = None
        with contextlib.suppress(Exception):
            import psycopg

            pg = psycopg.connect(_admin_conninfo(self.cluster.db_url), autocommit=True)
        # Bounded: one sample a second for at most a day.
        for tick in range(86_400):
            if self.stopping.wait(self.interval):
                break
            if tick % 10 == 9:
                with contextlib.suppress(psutil.Error):
                    discover()
            row: dict = {}
            for label, process in list(tracked.items()):
                try:
                    with process.oneshot():
                        row[label] = (
                            process.cpu_percent(None),
                            process.memory_info().rss,
                            process.num_fds(),
                            process.num_threads(),
                        )
                except psutil.Error:
                    row[label] = None
            row["postgres"] = self._backends(psutil, backends)
            with contextlib.suppress(Exception):
                info = store.info()
                row["redis_info"] = (
                    info["connected_clients"],
                    info["used_memory"],
                    info["total_commands_processed"],
                    info.get("blocked_clients", 0),
                )
            if pg is not None:
                with contextlib.suppress(Exception):
                    row["pg_connections"] = pg.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
                    ).fetchone()[0]
            self.samples.append((time.monotonic(), row))
        if pg is not None:
            pg.close()

    def _backends(self, psutil, known: dict) -> tuple[float, int, int] | None:
        """Summed CPU and RSS of the PostgreSQL backends serving the scratch database."""
        marker = f" {self.db_name} "
        cpu, rss, count = 0.0, 0, 0
        alive = set()
        for process in psutil.process_iter(["cmdline"]):
            line = " ".join(process.info["cmdline"] or [])
            if not line.startswith("postgres:") or marker not in line + " ":
                continue
            alive.add(process.pid)
            tracked = known.setdefault(process.pid, process)
            try:
                cpu += tracked.cpu_percent(None)
                rss += tracked.memory_info().rss
                count += 1
            except psutil.Error:
                continue
        for pid in set(known) - alive:
            known.pop(pid)
        return cpu, rss, count

    def window(self, began: float, ended: float) -> dict:
        rows = [row for at, row in self.samples if began <= at <= ended]
        result: dict = {"processes": {}}
        labels = sorted({label for row in rows for label, value in row.items() if isinstance(value, tuple)})
        for label in labels:
            if label in ("redis_info", "postgres"):
                continue
            values = [row[label] for row in rows if row.get(label)]
            if not values:
                continue
            result["processes"][label] = {
                "cpu_mean": round(statistics.fmean(v[0] for v in values), 1),
                "cpu_max": round(max(v[0] for v in values), 1),
                "rss_mb_max": round(max(v[1] for v in values) / 2**20, 1),
                "fds_max": max(v[2] for v in values),
                "threads_max": max(v[3] for v in values),
            }
        pg = [row["postgres"] for row in rows if row.get("postgres")]
        if pg:
            result["processes"]["postgres"] = {
                "cpu_mean": round(statistics.fmean(v[0] for v in pg), 1),
                "cpu_max": round(max(v[0] for v in pg), 1),
                "rss_mb_max": round(max(v[1] for v in pg) / 2**20, 1),
                "backends_max": max(v[2] for v in pg),
            }
        infos = [(at, row["redis_info"]) for at, row in self.samples if began <= at <= ended and "redis_info" in row]
        if len(infos) >= 2:
            (t0, first), (t1, last) = infos[0], infos[-1]
            result["redis"] = {
                "clients_max": max(i[0] for _, i in infos),
                "used_mb_max": round(max(i[1] for _, i in infos) / 2**20, 1),
                "commands_per_s": round((last[2] - first[2]) / max(t1 - t0, 1e-9)),
            }
        connections = [row["pg_connections"] for row in rows if "pg_connections" in row]
        if connections:
            result["pg_connections_max"] = max(connections)
        return result


# ---------------------------------------------------------------- the customers


@dataclass(eq=False)
class Sent:
    client_id: str
    session: "Session"
    text: str
    t_send: float
    t_ack: float | None = None
    ack_id: int | None = None
    ack_duplicate: bool = False
    t_first: float | None = None
    t_answer: float | None = None
    t_done: float | None = None
    tokens: int = 0
    echoes: int = 0
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Session:
    """One visitor with the widget open: REST to start, then one websocket for the whole run."""

    def __init__(self, bench: "Bench", index: int) -> None:
        self.bench, self.index = bench, index
        self.rng = random.Random(bench.seed * 1_000_003 + index)
        self.language = "cs" if index % 10 in (3, 7, 9) else "en"
        self.customer = bench.customers[index % len(bench.customers)] if bench.customers and index % 4 == 1 else None
        self.address = f"198.{18 + (index >> 16) % 2}.{(index >> 8) % 256}.{index % 256}"
        self.ws = None
        self.opened = False
        # Whether open() has finished, either way.
        self.settled = False
        self.closed = False
        self.close_code: int | None = None
        self.resumed = asyncio.Event()
        self.by_client: dict[str, Sent] = {}
        self.by_ack: dict[int, Sent] = {}
        self.inflight: Sent | None = None
        # Answer message ids this client was shown, and how many times each.
        self.answers_seen: dict[int, int] = defaultdict(int)
        self.epoch = -1
        self.sent_count = 0
        # Where this session's messages are recorded: the run's list, or the warm-up's.
        self.sink = bench.sent

    def headers(self, token: str = "") -> dict:
        headers = {
            "Accept": "application/json",
            "Origin": self.bench.origin,
            "X-Forwarded-For": self.address,
            "X-Forwarded-Proto": "https",
        }
        if token:
            headers["Authorization"] = f"Conversation {token}"
        return headers

    def text(self) -> str:
        if self.customer and self.rng.random() < 0.5:
            template = self.rng.choice(CUSTOMER_MESSAGES[self.language])
            return template.format(order=self.customer[1] or "")
        return self.rng.choice(MESSAGES[self.language])

    async def open(self) -> bool:
        import websockets

        bench = self.bench
        body: dict = {"language": self.language}
        if self.customer:
            external_id = self.customer[0]
            digest = hmac.new(bench.identity_secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()
            body.update(customer_id=external_id, identity_hash=digest)
        try:
            response = await bench.http.post(
                f"{bench.base}/api/widget/conversations", json=body, headers=self.headers()
            )
            if response.status_code != 201:
                bench.error(f"rest_start_{response.status_code}")
                return False
            token = response.json()["token"]
            response = await bench.http.get(f"{bench.base}/api/widget/conversation", headers=self.headers(token))
            if response.status_code != 200:
                bench.error(f"rest_history_{response.status_code}")
                return False
            last_id = max((m["id"] for m in response.json().get("messages", [])), default=0)
        except Exception as exc:
            bench.error(f"rest_{type(exc).__name__}")
            return False
        try:
            self.ws = await websockets.connect(
                f"{bench.ws_base}/ws/chat/{quote(token, safe='')}/",
                origin=bench.origin,
                additional_headers={"X-Forwarded-For": self.address, "X-Forwarded-Proto": "https"},
                # A browser sends no protocol pings; the widget's JSON ping is sent below.
                ping_interval=None,
                open_timeout=bench.args.open_timeout,
                close_timeout=5,
                proxy=None,
                max_queue=None,
                user_agent_header="ws_load",
            )
        except Exception as exc:
            bench.error(f"ws_connect_{type(exc).__name__}")
            return False
        bench.tasks.add(asyncio.ensure_future(self.read()))
        await self.ws.send(json.dumps({"type": "resume", "last_id": last_id}))
        try:
            await asyncio.wait_for(self.resumed.wait(), bench.args.open_timeout)
        except TimeoutError:
            bench.error("ws_no_resumed")
            return False
        self.opened = True
        return True

    async def read(self) -> None:
        import websockets

        try:
            async for raw in self.ws:
                self.on_frame(json.loads(raw), time.monotonic())
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:
            self.bench.error(f"ws_read_{type(exc).__name__}")
        finally:
            expected = self.closed or self.bench.closing
            self.closed = True
            self.close_code = self.ws.close_code
            if not expected:
                self.bench.error(f"ws_closed_{self.close_code}")
            if self.inflight is not None:
                self.inflight.done.set()

    def on_frame(self, frame: dict, now: float) -> None:
        kind = frame.get("type")
        bench = self.bench
        bench.frames[kind] += 1
        if kind == "resumed":
            self.resumed.set()
        elif kind == "ack":
            sent = self.by_client.get(frame.get("client_id"))
            if sent is None:
                bench.error("ack_unknown")
                return
            if sent.t_ack is not None:
                sent.ack_duplicate = True
            sent.t_ack, sent.ack_id = now, frame.get("id")
            if frame.get("duplicate"):
                sent.ack_duplicate = True
            self.by_ack[sent.ack_id] = sent
        elif kind == "token":
            sent = self.by_ack.get(frame.get("reply_to"))
            if sent is not None:
                sent.tokens += 1
                if sent.t_first is None:
                    sent.t_first = now
        elif kind == "message":
            message = frame.get("message") or {}
            if message.get("role") == "assistant":
                self.answers_seen[message.get("id")] += 1
                sent = self.inflight
                if sent is not None and sent.t_answer is None:
                    sent.t_answer = now
                    if sent.t_done is not None:
                        sent.done.set()
            elif message.get("role") == "customer":
                sent = self.by_client.get(message.get("client_id"))
                if sent is not None:
                    sent.echoes += 1
        elif kind == "reply_done":
            sent = self.by_ack.get(frame.get("reply_to"))
            if sent is not None and sent.t_done is None:
                sent.t_done = now
                if sent.t_answer is not None or sent.errors:
                    sent.done.set()
                else:
                    # The stored answer goes out before reply_done; give a reordered one a moment.
                    asyncio.get_running_loop().call_later(2.0, sent.done.set)
        elif kind == "error":
            code = str(frame.get("code"))
            sent = self.by_client.get(frame.get("client_id")) if frame.get("client_id") else self.inflight
            if sent is not None:
                sent.errors.append(code)
                if frame.get("client_id"):
                    sent.done.set()
            bench.error(f"frame_{code}")

    async def talk(self) -> None:
        """Think, write, wait for the answer; ping every 25 s. Bounded in messages and by the run's deadline."""
        bench, args = self.bench, self.bench.args
        now = time.monotonic()
        next_ping = now + PING_SECONDS
        next_send = float("inf")
        for _ in range(args.max_messages * 50 + 10_000):
            if self.closed or bench.closing or time.monotonic() > bench.deadline:
                return
            now = time.monotonic()
            if bench.paused or self.sent_count >= args.max_messages:
                next_send = float("inf")
            elif self.epoch != bench.epoch:
                # A new step (or the first): start anywhere in the think time, so sessions don't write in lockstep.
                self.epoch = bench.epoch
                next_send = now + self.rng.uniform(0, args.think[1])
            if now >= next_ping:
                next_ping = now + PING_SECONDS
                with contextlib.suppress(Exception):
                    await self.ws.send('{"type": "ping"}')
            if now >= next_send:
                await self.send()
                next_send = time.monotonic() + self.rng.uniform(*args.think)
                continue
            await asyncio.sleep(max(0.05, min(next_ping, next_send, now + 2.0) - now))

    async def send(self) -> None:
        bench = self.bench
        sent = Sent(client_id=uuid.uuid4().hex, session=self, text=self.text(), t_send=time.monotonic())
        self.by_client[sent.client_id] = sent
        self.sink.append(sent)
        self.sent_count += 1
        self.inflight = sent
        try:
            await self.ws.send(json.dumps({"type": "message", "text": sent.text, "client_id": sent.client_id}))
            await asyncio.wait_for(sent.done.wait(), bench.args.answer_timeout)
        except TimeoutError:
            sent.timed_out = True
            bench.error("answer_timeout")
        except Exception as exc:
            sent.errors.append(type(exc).__name__)
            bench.error(f"send_{type(exc).__name__}")
        finally:
            self.inflight = None

    async def run(self) -> None:
        try:
            opened = await self.open()
        finally:
            self.settled = True
        if opened:
            await self.talk()


# ---------------------------------------------------------------- the ramp


@dataclass
class Step:
    target: int
    ramp_began: float = 0.0
    began: float = 0.0
    ended: float = 0.0
    drained: float = 0.0
    held: int = 0
    # Sockets each daphne process held at the end of the step.
    spread: dict = field(default_factory=dict)
    opened_failed: int = 0
    errors: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)


class Bench:
    def __init__(self, args, cluster: Cluster, customers: list[tuple[str, str]]) -> None:
        self.args = args
        self.cluster = cluster
        self.base = cluster.base
        self.ws_base = cluster.base.replace("http://", "ws://")
        self.origin = cluster.base
        self.identity_secret = cluster.identity_secret
        self.customers = customers
        self.seed = args.seed
        self.sessions: list[Session] = []
        self.sent: list[Sent] = []
        self.tasks: set[asyncio.Task] = set()
        self.errors: dict[str, int] = defaultdict(int)
        self.frames: dict[str, int] = defaultdict(int)
        self.paused = False
        self.closing = False
        self.epoch = 0
        self.deadline = time.monotonic() + args.max_minutes * 60
        self.lags: list[tuple[float, float]] = []
        self.http = None
        self.warm: dict = {}

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    async def watch_lag(self) -> None:
        """How late this client's own event loop wakes up: if it lags, its timings are inflated."""
        for _ in range(10_000_000):
            if self.closing:
                return
            before = time.monotonic()
            await asyncio.sleep(0.1)
            self.lags.append((before, (time.monotonic() - before - 0.1) * 1000))

    async def ramp_to(self, target: int) -> int:
        """Open sessions up to ``target`` at ``--ramp-rate`` per second; returns how many failed to open."""
        new = []
        gap = 1.0 / self.args.ramp_rate
        began = time.monotonic()
        for index in range(len(self.sessions), target):
            if time.monotonic() > self.deadline:
                break
            session = Session(self, index)
            self.sessions.append(session)
            task = asyncio.ensure_future(session.run())
            self.tasks.add(task)
            new.append(session)
            await asyncio.sleep(max(0.0, began + (len(new)) * gap - time.monotonic()))
        limit = time.monotonic() + self.args.open_timeout * 3
        while time.monotonic() < limit and any(not s.settled for s in new):
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        return sum(not s.opened for s in new)

    async def drain(self) -> None:
        """Stop new messages and wait, bounded, for the answers in flight."""
        self.paused = True
        limit = time.monotonic() + self.args.answer_timeout + 5
        while time.monotonic() < limit and any(s.inflight is not None for s in self.sessions):
            await asyncio.sleep(0.2)
        # Late frames (a duplicate answer would arrive now) still count.
        await asyncio.sleep(2.0)

    async def warm_up(self, count: int) -> dict:
        """A few answers before any step: each daphne process loads its models on its first turn."""
        warm: list[Sent] = []
        sessions = []
        for number in range(count):
            session = Session(self, 1_000_000 + number)
            session.sink = warm
            sessions.append(session)
        began = time.monotonic()
        opened = await asyncio.gather(*(s.open() for s in sessions), return_exceptions=True)
        ready = [s for s, ok in zip(sessions, opened, strict=True) if ok is True]
        await asyncio.gather(*(s.send() for s in ready), return_exceptions=True)
        for session in sessions:
            session.closed = True
        await asyncio.gather(*(s.ws.close() for s in sessions if s.ws is not None), return_exceptions=True)
        firsts = [(s.t_first - s.t_send) * 1000 for s in warm if s.t_first is not None]
        return {
            "sessions": count,
            "answered": sum(s.t_answer is not None for s in warm),
            "first_token_ms": spread(firsts),
            "seconds": round(time.monotonic() - began, 1),
        }

    async def stub_stats(self, since: float, *, reset: bool = False) -> dict:
        query = f"?since={since}" + ("&reset=1" if reset else "")
        try:
            return (await asyncio.to_thread(http_get_json, f"{self.cluster.stub_base}/stats{query}"))[1]
        except OSError:
            return {}

    async def run(self, steps: list[int], sampler: Sampler) -> list[Step]:
        import httpx2

        self.http = httpx2.AsyncClient(
            timeout=self.args.open_timeout,
            # A connection per request, as every visitor's browser has its own: no pooled sockets in the counts.
            limits=httpx2.Limits(max_connections=64, max_keepalive_connections=0),
            trust_env=False,
        )
        lag_task = asyncio.ensure_future(self.watch_lag())
        results: list[Step] = []
        verified_upto = 0
        try:
            if self.args.warmup:
                errors_before = dict(self.errors)
                self.warm = await self.warm_up(self.args.warmup)
                self.warm["errors"] = {k: v - errors_before.get(k, 0) for k, v in self.errors.items()}
                self.errors = defaultdict(int, errors_before)
                first = self.warm["first_token_ms"]
                print(
                    f"  warm-up: {self.warm['answered']} of {self.args.warmup} answered in {self.warm['seconds']} s; "
                    f"cold first token p50 {_ms(first, 'p50')} ms, max {_ms(first, 'max')} ms",
                    flush=True,
                )
            for target in steps:
                if time.monotonic() > self.deadline:
                    print(f"  run deadline reached before step {target}")
                    break
                step = Step(target=target, ramp_began=time.monotonic())
                errors_before = dict(self.errors)
                print(f"  step {target}: opening {max(0, target - len(self.sessions))} sessions…", flush=True)
                step.opened_failed = await self.ramp_to(target)
                self.paused = False
                self.epoch += 1
                await self.stub_stats(0, reset=True)
                step.began = time.monotonic()
                window_end = min(step.began + self.args.duration, self.deadline)
                print(f"  step {target}: measuring for {window_end - step.began:.0f} s…", flush=True)
                while time.monotonic() < window_end:
                    await asyncio.sleep(min(1.0, max(0.0, window_end - time.monotonic())))
                step.ended = time.monotonic()
                await self.drain()
                step.drained = time.monotonic()
                step.held = sum(s.opened and not s.closed for s in self.sessions)
                step.spread = await asyncio.to_thread(self.cluster.sockets_by_process)
                step.errors = {
                    k: v - errors_before.get(k, 0) for k, v in self.errors.items() if v != errors_before.get(k, 0)
                }
                batch = self.sent[verified_upto:]
                verified_upto = len(self.sent)
                stub = await self.stub_stats(step.began)
                checks = await asyncio.to_thread(verify, batch)
                resources = sampler.window(step.began, step.ended)
                resources["pg_connections_max_ramp"] = sampler.window(step.ramp_began, step.began).get(
                    "pg_connections_max"
                )
                step.result = summarise(self, step, batch, checks, stub, resources)
                results.append(step)
                print_step(step)
                handled = step.result["messages"]["sent_total"]
                failed = step.result["lost"] + step.result["duplicated"] + step.result["errors_total"]
                if handled and failed / handled > COLLAPSE_RATE:
                    print(f"  step {target} collapsed ({failed} of {handled} messages failed); no higher step")
                    break
        finally:
            self.closing = True
            await asyncio.gather(
                *(s.ws.close() for s in self.sessions if s.ws is not None and not s.closed), return_exceptions=True
            )
            for task in [*self.tasks, lag_task]:
                task.cancel()
            await asyncio.gather(*self.tasks, lag_task, return_exceptions=True)
            await self.http.aclose()
        return results


# ---------------------------------------------------------------- checking and reporting


def verify(batch: list[Sent]) -> dict:
    """Rows in the database for every client_id sent: the customer's message and the bot's answers."""
    from django.db import connection

    from copilot.models import CopilotTurn
    from helpdesk.models import Message

    rows: dict[str, list[int]] = defaultdict(list)
    answers: dict[int, list[int]] = defaultdict(list)
    turns: dict[int, tuple] = {}
    try:
        ids = [sent.client_id for sent in batch]
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query = Message.objects.filter(role=Message.Role.CUSTOMER, client_message_id__in=chunk)
            for client_id, pk in query.values_list("client_message_id", "pk"):
                rows[client_id].append(pk)
        customer_ids = [pk for pks in rows.values() for pk in pks]
        for start in range(0, len(customer_ids), 1000):
            chunk = customer_ids[start : start + 1000]
            query = Message.objects.filter(role=Message.Role.ASSISTANT, metadata__in_reply_to__in=chunk)
            for reply_to, pk in query.values_list("metadata__in_reply_to", "pk"):
                answers[int(reply_to)].append(pk)
            for row in CopilotTurn.objects.filter(customer_message_id__in=chunk).values_list(
                "customer_message_id", "first_token_ms", "total_ms", "fallback", "escalated", "steps"
            ):
                turns[row[0]] = row[1:]
    finally:
        connection.close()
    return {"rows": rows, "answers": answers, "turns": turns}


def summarise(bench: Bench, step: Step, batch: list[Sent], checks: dict, stub: dict, resources: dict) -> dict:
    args = bench.args
    model_wait_ms = STUB_DELAY * 1000 * (2 if args.profile == "full" else 1)
    window = [s for s in batch if step.began <= s.t_send <= step.ended]
    ttft = [(s.t_first - s.t_send) * 1000 for s in window if s.t_first is not None]
    overhead = [value - model_wait_ms for value in ttft]
    acks = [(s.t_ack - s.t_send) * 1000 for s in window if s.t_ack is not None]
    answers = [(s.t_answer - s.t_send) * 1000 for s in window if s.t_answer is not None]
    rows, replies, turns = checks["rows"], checks["answers"], checks["turns"]
    lost: dict[str, int] = defaultdict(int)
    duplicated: dict[str, int] = defaultdict(int)
    rejected = 0
    for sent in batch:
        pks = rows.get(sent.client_id, [])
        refused = any(code in ("rate_limited", "bad_frame", "too_long", "empty") for code in sent.errors)
        if refused and not pks:
            rejected += 1
            continue
        if not pks:
            lost["no_row"] += 1
            continue
        if len(pks) > 1:
            duplicated["rows"] += 1
        if sent.ack_id is not None and sent.ack_id not in pks:
            lost["ack_id_mismatch"] += 1
        if sent.ack_duplicate:
            duplicated["ack"] += 1
        answer_ids = [a for pk in pks for a in replies.get(pk, [])]
        if not answer_ids:
            lost["no_answer_row"] += 1
            continue
        if len(answer_ids) > 1:
            duplicated["answer_rows"] += 1
        seen = {a: sent.session.answers_seen.get(a, 0) for a in answer_ids}
        if not any(seen.values()):
            lost["answer_not_received"] += 1
        elif any(count > 1 for count in seen.values()):
            duplicated["answer_received_twice"] += 1
    server_ttft = [
        turns[pk][0] - model_wait_ms
        for s in window
        for pk in rows.get(s.client_id, [])[:1]
        if pk in turns and turns[pk][0] is not None
    ]
    server_steps: dict[str, list[float]] = defaultdict(list)
    for s in window:
        for pk in rows.get(s.client_id, [])[:1]:
            for trace_step in (turns.get(pk) or (None,) * 5)[4] or []:
                server_steps[trace_step["name"]].append(trace_step["ms"])
    fallbacks = sum(1 for s in batch for pk in rows.get(s.client_id, [])[:1] if pk in turns and turns[pk][2])
    escalated = sum(1 for s in batch for pk in rows.get(s.client_id, [])[:1] if pk in turns and turns[pk][3])
    lags = [lag for at, lag in bench.lags if step.began <= at <= step.ended]
    duration = max(step.ended - step.began, 1e-9)
    errors_total = sum(step.errors.values())
    return {
        "target": step.target,
        "held": step.held,
        "sockets_by_process": step.spread,
        "open_failed": step.opened_failed,
        "ramp_s": round(step.began - step.ramp_began, 1),
        "window_s": round(duration, 1),
        "messages": {
            "sent_window": len(window),
            "sent_total": len(batch),
            "per_s": round(len(window) / duration, 2),
            "answered_window": len(answers),
            "no_token_frame": sum(1 for s in window if s.t_first is None),
            # The copilot streams sentence by sentence: one token frame per sentence it releases.
            "token_frames_per_answer": round(statistics.fmean([s.tokens for s in window if s.t_first is not None]), 2)
            if any(s.t_first is not None for s in window)
            else None,
            "timed_out": sum(s.timed_out for s in batch),
        },
        "ttft_ms": spread(ttft),
        "ttft_overhead_ms": spread(overhead),
        "server_first_token_overhead_ms": spread(server_ttft),
        "server_steps_ms": {name: spread(values) for name, values in server_steps.items()},
        "ack_ms": spread(acks),
        "answer_ms": spread(answers),
        "model_wait_ms": model_wait_ms,
        "errors": step.errors,
        "errors_total": errors_total,
        "rejected": rejected,
        "lost": sum(lost.values()),
        "lost_detail": dict(lost),
        "duplicated": sum(duplicated.values()),
        "duplicated_detail": dict(duplicated),
        "fallbacks": fallbacks,
        "escalated": escalated,
        "client_loop_lag_ms": spread(lags),
        "stub": {
            key: stub.get(key)
            for key in ("requests", "streams", "max_active_streams", "max_connections", "first_token_late_ms")
        },
        "resources": resources,
    }


def step_passes(result: dict) -> bool:
    p95 = result["ttft_overhead_ms"].get("p95")
    return (
        p95 is not None
        and p95 <= TARGET_P95_OVERHEAD_MS
        and result["errors_total"] == 0
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["held"] >= result["target"]
    )


def _ms(spread_: dict, key: str) -> str:
    value = spread_.get(key)
    return f"{value:.0f}" if value is not None else "-"


def print_step(step: Step) -> None:
    r = step.result
    o = r["ttft_overhead_ms"]
    print(
        f"  step {r['target']}: held {r['held']}, {r['messages']['sent_window']} msgs in {r['window_s']:.0f} s "
        f"({r['messages']['per_s']:.1f}/s), TTFT overhead p50/p95/p99 {_ms(o, 'p50')}/{_ms(o, 'p95')}/"
        f"{_ms(o, 'p99')} ms, errors {r['errors_total']} {r['errors'] or ''}, lost {r['lost']} "
        f"{r['lost_detail'] or ''}, duplicated {r['duplicated']} {r['duplicated_detail'] or ''}",
        flush=True,
    )


def report(results: list[Step], args, cluster: Cluster, sampler: Sampler, error_lines: dict, bench_warm: dict) -> dict:
    print("\nRESULTS (times in ms; overhead = time to first token frame minus the model's own wait)")
    header = (
        f"{'sessions':>9} {'held':>5} {'msgs':>6} {'msg/s':>6} {'ovh p50':>8} {'p95':>6} {'p99':>6} "
        f"{'srv p95':>8} {'ack p95':>8} {'answer p95':>10} {'errors':>6} {'lost':>5} {'dup':>4} {'fallbk':>6} "
        f"{'lag p99':>8}  verdict"
    )
    print(header)
    knee = None
    for step in results:
        r = step.result
        passed = step_passes(r)
        if not passed and knee is None:
            knee = r["target"]
        print(
            f"{r['target']:>9} {r['held']:>5} {r['messages']['sent_window']:>6} {r['messages']['per_s']:>6.1f} "
            f"{_ms(r['ttft_overhead_ms'], 'p50'):>8} {_ms(r['ttft_overhead_ms'], 'p95'):>6} "
            f"{_ms(r['ttft_overhead_ms'], 'p99'):>6} {_ms(r['server_first_token_overhead_ms'], 'p95'):>8} "
            f"{_ms(r['ack_ms'], 'p95'):>8} {_ms(r['answer_ms'], 'p95'):>10} {r['errors_total']:>6} "
            f"{r['lost']:>5} {r['duplicated']:>4} {r['fallbacks']:>6} {_ms(r['client_loop_lag_ms'], 'p99'):>8}  "
            f"{'ok' if passed else 'MISS'}"
        )
    print("  srv = the same overhead measured inside the web process (turn trace first_token_ms); the rest is")
    print("  the message's way in (store, ack) and the token's way out (Redis channel layer, socket).")
    print("\nPROCESSES per step (CPU % of one core, mean/max over the window; RSS MB max; open files max)")
    for step in results:
        resources = step.result["resources"]
        print(f"  {step.target} sessions:")
        for label, values in resources.get("processes", {}).items():
            extra = (
                f"backends {values['backends_max']}"
                if "backends_max" in values
                else f"fds {values['fds_max']:>5}  threads {values['threads_max']:>3}"
            )
            print(
                f"    {label:<14} cpu {values['cpu_mean']:>6.1f} / {values['cpu_max']:>6.1f}  "
                f"rss {values['rss_mb_max']:>7.1f}  {extra}"
            )
        if "redis" in resources:
            redis = resources["redis"]
            print(
                f"    redis: {redis['clients_max']} clients, {redis['used_mb_max']} MB, "
                f"{redis['commands_per_s']} commands/s; PostgreSQL connections to the scratch database: "
                f"{resources.get('pg_connections_max', '-')} "
                f"(while ramping: {resources.get('pg_connections_max_ramp')})"
            )
        print(f"    sockets held by process: {step.result['sockets_by_process']}")
        cpu = sum(values["cpu_mean"] for values in resources.get("processes", {}).values())
        rate = step.result["messages"]["per_s"]
        if rate:
            print(
                f"    all processes: {cpu:.0f} % of a core, {cpu * 10 / rate:.0f} ms of CPU per message; "
                f"token frames per answer {step.result['messages']['token_frames_per_answer']}"
            )
        traced = step.result["server_steps_ms"]
        if traced:
            print(
                "    server trace p50/p95: "
                + ", ".join(f"{name} {_ms(v, 'p50')}/{_ms(v, 'p95')}" for name, v in traced.items())
            )
        stub = step.result["stub"]
        late = stub.get("first_token_late_ms") or {}
        print(
            f"    stub: {stub.get('requests')} requests, {stub.get('max_active_streams')} streams at once at most, "
            f"first token late p99 {late.get('p99', '-')} ms"
        )
    print(f"\nOpen-files limits (soft/hard): {sampler.limits}; daphne's shared socket listens with a backlog of 1024.")
    if error_lines:
        print(f"Server log ERROR lines by logger: {error_lines} (see {cluster.folder}/serve_prod.log)")
    best = max((s.target for s in results if step_passes(s.result)), default=0)
    target_met = any(s.target >= TARGET_SESSIONS and step_passes(s.result) for s in results)
    print(
        f"\nKnee: {knee if knee is not None else 'not reached'}; highest passing step {best} sessions. "
        f"Target {TARGET_SESSIONS} sessions, 0 lost or duplicated, p95 overhead <= {TARGET_P95_OVERHEAD_MS:.0f} ms: "
        f"{'PASS' if target_met else 'FAIL'}"
    )
    summary = {
        "bench": "ws_load",
        "profile": args.profile,
        "web": args.web,
        "workers": args.workers,
        "env": args.env,
        "think_s": list(args.think),
        "duration_s": args.duration,
        "knee": knee,
        "highest_passing": best,
        "target_met": target_met,
        "warm_up": bench_warm,
        "limits": sampler.limits,
        "server_error_lines": error_lines,
        "steps": [step.result for step in results],
    }
    print(json.dumps(summary, separators=(",", ":")))
    return summary


# ---------------------------------------------------------------- setup


def seed() -> list[tuple[str, str]]:
    from helpdesk.demo import demo_seed

    started = time.perf_counter()
    counts = demo_seed()
    print(f"seeded the demo shop in {time.perf_counter() - started:.0f} s: {counts}")
    return demo_customers()


def demo_customers() -> list[tuple[str, str]]:
    """(external id, latest order number) of the demo customers, for verified sessions."""
    from django.db import connection

    from crm.models import Customer

    found = []
    for customer in Customer.objects.filter(external_id__startswith="cus_").order_by("external_id"):
        latest = customer.orders.order_by("-placed_at").first()
        found.append((customer.external_id, latest.number if latest else ""))
    connection.close()
    return found


def parse_think(value: str) -> tuple[float, float]:
    low, _, high = value.partition("-")
    low_f, high_f = float(low), float(high or low)
    if low_f < 0 or high_f < low_f:
        raise argparse.ArgumentTypeError("--think is 'MIN-MAX' seconds, e.g. 30-60")
    return low_f, high_f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--steps", default="100,250,500,1000", help="concurrent sessions per step (default 100,250,500,1000)"
    )
    parser.add_argument(
        "--think",
        type=parse_think,
        default=(30.0, 60.0),
        help="seconds between a reply and the next message, MIN-MAX (default 30-60)",
    )
    parser.add_argument(
        "--duration", type=float, default=120.0, help="measurement window per step, seconds (default 120)"
    )
    parser.add_argument("--web", type=int, default=2, help="daphne processes (default 2, one per core)")
    parser.add_argument("--workers", type=int, default=1, help="Celery workers (default 1)")
    parser.add_argument(
        "--profile",
        choices=("small", "full"),
        default="small",
        help="COPILOT_LLM_PROFILE (default small: the answer is the only model call)",
    )
    parser.add_argument(
        "--ramp-rate", type=float, default=25.0, help="new sessions per second while ramping (default 25)"
    )
    parser.add_argument(
        "--answer-timeout", type=float, default=30.0, help="seconds a session waits for an answer (default 30)"
    )
    parser.add_argument(
        "--open-timeout", type=float, default=30.0, help="seconds for each REST call and the websocket handshake"
    )
    parser.add_argument("--max-messages", type=int, default=500, help="messages per session at most (default 500)")
    parser.add_argument("--max-minutes", type=float, default=120.0, help="hard limit on the load phase (default 120)")
    parser.add_argument(
        "--warmup", type=int, default=-1, help="sessions answered once before the ramp (default 4 per daphne process)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra environment variable for the servers, to try a setting (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db-name", default=DB_NAME, help=f"scratch database (default {DB_NAME})")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (and the logs) for --reuse")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept scratch database")
    args = parser.parse_args()
    steps = sorted({int(s) for s in args.steps.split(",") if s.strip()})
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    if args.warmup < 0:
        args.warmup = 4 * args.web
    if not steps or steps[0] < 1 or args.web < 1 or args.workers < 0 or args.ramp_rate <= 0:
        parser.error("--steps needs positive numbers; --web >= 1, --workers >= 0, --ramp-rate > 0")

    # Every session holds a socket here and one in a daphne process; the servers inherit this limit.
    limit = raise_fd_limit(max(65536, steps[-1] * 3 + 4096))
    if limit[0] < steps[-1] + 1024:
        print(f"warning: open-files limit {limit[0]} is too low for {steps[-1]} sessions; raise the hard limit")
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # noqa: S108
    # The demo seed escalates a conversation, and the development settings would print its email here.
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    if args.reuse:
        scratch_attach(args.db_name)
        customers = demo_customers()
    else:
        scratch_django(args.db_name)
        customers = seed()
    folder = Path(tempfile.mkdtemp(prefix="bench_ws_load_"))
    cluster = Cluster(
        web=args.web,
        workers=args.workers,
        profile=args.profile,
        db_url=os.environ["DATABASE_URL"],
        folder=folder,
        extra_env=dict(item.split("=", 1) for item in args.env),
    )
    sampler = None
    try:
        started = time.perf_counter()
        cluster.start()
        print(
            f"serve_prod up in {time.perf_counter() - started:.0f} s on {cluster.base}: {args.web} daphne, "
            f"{args.workers} Celery worker, Redis :{cluster.redis_port}; stub :{cluster.stub_port}; "
            f"profile {args.profile}; logs in {folder}"
        )
        sampler = Sampler(cluster, args.db_name)
        sampler.start()
        bench = Bench(args, cluster, customers)
        print(
            f"ramp {steps}, think {args.think[0]:.0f}-{args.think[1]:.0f} s, {args.duration:.0f} s per step, "
            f"{len(customers)} demo customers for verified sessions; open-files limit {limit[0]}"
        )
        results = asyncio.run(bench.run(steps, sampler))
        sampler.stopping.set()
        sampler.join(timeout=10)
        report(results, args, cluster, sampler, cluster.error_lines(), bench.warm)
    finally:
        if sampler is not None:
            sampler.stopping.set()
        cluster.stop()
        if not args.keep:
            scratch_drop(args.db_name)
            # The logs stay (small, and the place to look when a step failed); the data folder goes.
            shutil.rmtree(folder / "data", ignore_errors=True)
        print(f"server logs: {folder}")


if __name__ == "__main__":
    main()
