"""Two daphne processes, real Redis (channel layer, cache, Celery broker) and a real Celery worker.

A customer connected to process A asks for a human; an agent whose console is connected to
process B sees the escalation within a second. Then the customer's message is answered on
A, and the worker (not the web process) writes the turn's follow-up plan, which B serves.
"""

import asyncio
import concurrent.futures
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.e2e.conftest import ROOT, SEED, _admin, _free_port, _server_url, wait_http

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def cluster():
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.fail("redis-server is missing: `make test` installs Debian's redis-server package")
    name = os.environ.get("TEST_DATABASE_NAME", "test_postgres") + "_mp"
    url = _server_url()
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": urllib.parse.urlparse(url)._replace(path=f"/{name}").geturl(),
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.local",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "COPILOT_ENGINE": "offline",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp"),  # noqa: S108
    }
    logs = ROOT / ".data" / "multiprocess"
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []

    def start(label: str, command: list[str]) -> subprocess.Popen:
        log = open(logs / f"{label}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        processes.append(process)
        return process

    try:
        redis = start(
            "redis",
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=env, check=True, timeout=600)  # noqa: S603
        if redis.poll() is not None:
            raise RuntimeError("redis-server exited; see .data/multiprocess/redis.log")
        ports = [_free_port(), _free_port()]
        web = [
            start(
                f"daphne-{label}",
                [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "helpdesk.asgi:application"],
            )
            for label, port in zip("ab", ports, strict=True)
        ]
        worker = start(
            "celery", [str(BIN / "celery"), "-A", "helpdesk", "worker", "--pool=solo", "--concurrency=1", "-l", "INFO"]
        )
        for port, process in zip(ports, web, strict=True):
            wait_http(f"http://127.0.0.1:{port}/health", process)
        yield {
            "a": f"127.0.0.1:{ports[0]}",
            "b": f"127.0.0.1:{ports[1]}",
            "worker": worker,
            "logs": logs,
            "env": env,
        }
    finally:
        for process in reversed(processes):
            _stop(process)
        with _admin(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _agent_cookie(host: str) -> str:
    """Sign in through the console's real login form (CSRF included) and return the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"http://{host}/console/login/", timeout=10).read().decode()  # noqa: S310
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": "jana", "password": "agent-demo-pass"}
    ).encode()
    request = urllib.request.Request(  # noqa: S310
        f"http://{host}/console/login/", data=form, headers={"Referer": f"http://{host}/console/login/"}
    )
    opener.open(request, timeout=10)
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def _post_json(url: str, body: dict, headers: dict | None = None) -> dict:
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def _get_json(url: str, cookie: str) -> dict:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


async def _until(socket, kind: str, *, seconds: float) -> tuple[dict, float]:
    """The first frame of this type, and when it arrived (monotonic)."""
    deadline = time.monotonic() + seconds
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=max(0.01, deadline - time.monotonic())))
        if frame.get("type") == kind:
            return frame, time.monotonic()


def test_an_escalation_on_one_process_reaches_an_agent_on_the_other(cluster):
    a, b = cluster["a"], cluster["b"]
    cookie = _agent_cookie(b)
    assert "sessionid=" in cookie
    session = _post_json(f"http://{a}/api/widget/conversations", {"language": "en"})

    async def scenario() -> tuple[dict, float, str]:
        async with (
            websockets.connect(
                f"ws://{b}/ws/console/", origin=f"http://{b}", additional_headers={"Cookie": cookie}
            ) as console,
            websockets.connect(f"ws://{a}/ws/chat/{session['token']}/", origin=f"http://{a}") as chat,
        ):
            await _until(console, "presence", seconds=10)
            asked = time.monotonic()
            await chat.send(json.dumps({"type": "human"}))
            escalation, seen = await _until(console, "escalation", seconds=5)
            await chat.send(json.dumps({"type": "message", "text": "How do I reset my password?", "client_id": "m1"}))
            done, _ = await _until(chat, "reply_done", seconds=30)
            return escalation, seen - asked, done["reply_to"]

    # Sync Playwright (the other e2e tests) leaves an event loop on this thread; use a fresh one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        escalation, latency, answered = pool.submit(asyncio.run, scenario()).result()
    print(f"\nescalation from process A seen on process B after {latency * 1000:.0f} ms")
    assert escalation["ticket"]["reference"].startswith("ESC-")
    assert latency < 1.0
    assert answered > 0

    # The follow-up plan and suggested replies are written by the Celery worker, through the Redis broker.
    conversation_id = escalation["conversation"]
    deadline = time.monotonic() + 30
    panel = {}
    while time.monotonic() < deadline:
        panel = _get_json(f"http://{b}/api/conversations/{conversation_id}", cookie).get("copilot") or {}
        if panel.get("follow_up", {}).get("steps"):
            break
        time.sleep(0.5)
    assert panel.get("follow_up", {}).get("steps"), panel
    assert panel.get("suggested_replies")
    assert cluster["worker"].poll() is None


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def test_serve_prod_runs_the_set_on_one_port_and_stops_it_whole(cluster):
    port, redis_port = _free_port(), _free_port()
    env = {**cluster["env"], "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    log = open(cluster["logs"] / "serve-prod.log", "w")  # noqa: SIM115
    command = [sys.executable, "manage.py", "serve_prod", "--port", str(port), "--web", "2", "--workers", "1"]
    parent = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        wait_http(f"http://127.0.0.1:{port}/health", parent)
        children = _children(parent.pid)
        # Redis (started because REDIS_URL is local and down), two daphne processes, one worker.
        assert len(children) == 4, children
        daphnes = [pid for pid in children if b"daphne" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(daphnes) == 2
        os.kill(daphnes[0], 9)
        # One process gone: the set stops whole and says so, for its supervisor to restart it.
        assert parent.wait(timeout=30) == 1
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or b"zombie" in Path(f"/proc/{pid}/status").read_bytes().lower()
    finally:
        if parent.poll() is None:
            parent.terminate()
            parent.wait(timeout=30)
        log.close()
