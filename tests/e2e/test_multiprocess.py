"""Two daphne processes, real Redis (channel layer, cache, Celery broker) and a real Celery worker.

A customer connected to process A asks for a human; an agent whose console is connected to
process B sees the escalation within a second. Then the customer's message is answered on
A, and the worker (not the web process) writes the turn's follow-up plan, which B serves.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websockets

from tests.cluster import agent_cookie, children_of, get_json, post_json, run_async, running_cluster
from tests.e2e.conftest import ROOT, _free_port, wait_http

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
    with running_cluster("multiprocess", web=2) as running:
        yield running


async def _until(socket, kind: str, *, seconds: float) -> tuple[dict, float]:
    """The first frame of this type, and when it arrived (monotonic)."""
    deadline = time.monotonic() + seconds
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=max(0.01, deadline - time.monotonic())))
        if frame.get("type") == kind:
            return frame, time.monotonic()


def test_an_escalation_on_one_process_reaches_an_agent_on_the_other(cluster):
    a, b = cluster.hosts
    cookie = agent_cookie(b)
    assert "sessionid=" in cookie
    session = post_json(f"http://{a}/api/widget/conversations", {"language": "en"})

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

    escalation, latency, answered = run_async(scenario())
    print(f"\nescalation from process A seen on process B after {latency * 1000:.0f} ms")
    assert escalation["ticket"]["reference"].startswith("ESC-")
    assert latency < 1.0
    assert answered > 0

    # The follow-up plan and suggested replies are written by the Celery worker, through the Redis broker.
    conversation_id = escalation["conversation"]
    deadline = time.monotonic() + 30
    panel = {}
    while time.monotonic() < deadline:
        panel = get_json(f"http://{b}/api/conversations/{conversation_id}", cookie).get("copilot") or {}
        if panel.get("follow_up", {}).get("steps"):
            break
        time.sleep(0.5)
    assert panel.get("follow_up", {}).get("steps"), panel
    assert panel.get("suggested_replies")
    assert cluster.alive("celery")


def test_serve_prod_runs_the_set_on_one_port_and_stops_it_whole(cluster):
    port, redis_port = _free_port(), _free_port()
    env = {**cluster.env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    log = open(cluster.logs / "serve-prod.log", "w")  # noqa: SIM115
    command = [sys.executable, "manage.py", "serve_prod", "--port", str(port), "--web", "2", "--workers", "1"]
    parent = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        wait_http(f"http://127.0.0.1:{port}/health", parent)
        children = children_of(parent.pid)
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
