"""The local LLM supervisor and health probe, with real child processes and real HTTP, no model.

The child is a small http.server script written into tmp_path that speaks llama.cpp's /health
and /v1/models and can be told to crash, so restarts cost milliseconds instead of a model load.
The real llama.cpp child is exercised in test_local_llm_server_real.py (marked slow).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from copilot.local_llm.health import local_llm_http_get, local_llm_root_url, local_llm_status_get
from copilot.local_llm.supervisor import (
    LocalLLMStartError,
    LocalLLMSupervisor,
    local_llm_command_build,
    port_in_use_check,
    restart_delay_get,
)

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 20.0

FAKE_SERVER = r'''
"""A stand-in for llama.cpp's server: /health, /v1/models, and /crash to exit on request."""
import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--loading-seconds", type=float, default=0.0)
parser.add_argument("--exit-at-start", type=int)
args = parser.parse_args()
if args.exit_at_start is not None:
    print("fake server: refusing to start", file=sys.stderr, flush=True)
    sys.exit(args.exit_at_start)
started = time.monotonic()
api_key = os.environ.get("LOCAL_LLM_API_KEY")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/crash":
            self.reply(200, {"crashing": True})
            os._exit(3)
        if time.monotonic() - started < args.loading_seconds:
            return self.error(503, "Loading model", "unavailable_error")
        if self.path == "/health":
            return self.reply(200, {"status": "ok"})
        if self.path == "/v1/models":
            if api_key and self.headers.get("Authorization") != f"Bearer {api_key}":
                return self.error(401, "Invalid API Key", "authentication_error")
            model = {"id": "fake-model", "object": "model", "owned_by": "llamacpp"}
            return self.reply(200, {"object": "list", "data": [model]})
        self.error(404, "File Not Found", "not_found_error")

    def error(self, status, message, kind):
        self.reply(status, {"error": {"code": status, "message": message, "type": kind}})

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
'''


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_alive(pid: int) -> bool:
    """True while the pid runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def wait_until(condition: Callable[[], object], *, timeout: float = WAIT_SECONDS, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def http_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback test URL
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def status_file_read(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def fake_server(tmp_path) -> Path:
    script = tmp_path / "fake_llama_server.py"
    script.write_text(FAKE_SERVER)
    return script


@pytest.fixture
def make_supervisor(fake_server, tmp_path) -> Iterator[Callable[..., LocalLLMSupervisor]]:
    """Supervisors over the fake child on a free port; every one is stopped at the end of the test."""
    made: list[LocalLLMSupervisor] = []

    def make(*fake_args: str, **options) -> LocalLLMSupervisor:
        port = free_port()
        options.setdefault("status_file", tmp_path / "local-llm.json")
        options.setdefault("poll_interval", 0.05)
        options.setdefault("stop_timeout", 5.0)
        options.setdefault("ready_timeout", WAIT_SECONDS)
        supervisor = LocalLLMSupervisor(
            command=[sys.executable, str(fake_server), "--port", str(port), *fake_args], port=port, **options
        )
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.stop()


# ---------------------------------------------------------------- backoff and the command


def test_restart_delay_doubles_from_the_initial_step_up_to_the_cap():
    delays = [restart_delay_get(failures=n, initial=1.0, maximum=60.0) for n in range(1, 10)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert restart_delay_get(failures=5000, initial=1.0, maximum=60.0) == 60.0


def test_the_real_command_runs_the_server_module_with_the_model_and_no_secret():
    command = local_llm_command_build(model=Path("/m/q.gguf"), port=8181, threads=2, ctx=4096, alias="qwen")
    assert command == [
        sys.executable,
        "-m",
        "copilot.local_llm.server",
        "--model",
        "/m/q.gguf",
        "--port",
        "8181",
        "--threads",
        "2",
        "--ctx",
        "4096",
        "--alias",
        "qwen",
    ]


# ---------------------------------------------------------------- start and ready


def test_start_returns_once_the_child_answers_health_and_writes_the_status(make_supervisor, tmp_path):
    supervisor = make_supervisor("--loading-seconds", "0.4")
    supervisor.start()

    status = supervisor.status
    assert status.state == "ready"
    assert process_alive(status.pid)
    # It was loading (503) for 0.4 s, and ready means /health says 200.
    assert status.load_seconds >= 0.4
    assert http_get(f"{supervisor.url}/health") == 200
    assert status.restarts == 0
    written = status_file_read(tmp_path / "local-llm.json")
    assert written["state"] == "ready"
    assert written["pid"] == status.pid
    assert written["url"] == supervisor.url
    assert written["supervisor_pid"] == os.getpid()


def test_a_child_that_exits_before_it_is_ready_fails_the_start(make_supervisor, tmp_path):
    supervisor = make_supervisor("--exit-at-start", "2")
    with pytest.raises(LocalLLMStartError, match="exited with code 2 before it was ready"):
        supervisor.start()
    written = status_file_read(tmp_path / "local-llm.json")
    assert written["state"] == "stopped"
    assert written["last_exit_code"] == 2
    assert written["pid"] is None


def test_a_child_that_never_gets_ready_is_stopped_and_fails_the_start(make_supervisor):
    supervisor = make_supervisor("--loading-seconds", "600", ready_timeout=0.5)
    with pytest.raises(LocalLLMStartError, match="did not answer /health within"):
        supervisor.start()
    pid = supervisor._child.pid
    assert not process_alive(pid)


def test_a_port_already_taken_is_refused_before_anything_starts(make_supervisor):
    supervisor = make_supervisor()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", supervisor.port))
        squatter.listen()
        assert port_in_use_check(port=supervisor.port)
        with pytest.raises(LocalLLMStartError, match=f"Port {supervisor.port} .* already in use"):
            supervisor.start()
    assert (supervisor.status.state, supervisor.status.pid) == ("stopped", None)


# ---------------------------------------------------------------- crashes and restarts


def test_a_crash_is_restarted_after_the_backoff_which_doubles(make_supervisor, tmp_path):
    status_file = tmp_path / "local-llm.json"
    supervisor = make_supervisor(backoff_initial=0.4, backoff_max=5.0, stable_seconds=60.0)
    supervisor.start()
    first_pid = supervisor.status.pid

    crashed_at = time.monotonic()
    assert http_get(f"{supervisor.url}/crash") == 200
    wait_until(lambda: status_file_read(status_file)["state"] == "restarting", what="the restarting state")
    restarting = status_file_read(status_file)
    assert restarting["next_start_in"] == 0.4
    assert restarting["last_exit_code"] == 3
    assert restarting["pid"] is None
    wait_until(lambda: supervisor.status.state == "ready", what="the first restart")
    assert time.monotonic() - crashed_at >= 0.4

    second_pid = supervisor.status.pid
    assert second_pid != first_pid
    assert not process_alive(first_pid)
    assert process_alive(second_pid)
    written = status_file_read(status_file)
    assert (written["state"], written["pid"], written["restarts"], written["last_exit_code"]) == (
        "ready",
        second_pid,
        1,
        3,
    )
    assert http_get(f"{supervisor.url}/health") == 200

    # The second failure in a row waits twice as long; a SIGKILL is what an OOM kill looks like.
    killed_at = time.monotonic()
    os.kill(second_pid, signal.SIGKILL)
    wait_until(lambda: supervisor.status.pid not in (None, second_pid), what="the second restart")
    assert time.monotonic() - killed_at >= 0.8
    wait_until(lambda: supervisor.status.state == "ready", what="the second child to be ready")
    status = supervisor.status
    assert (status.restarts, status.last_exit_code) == (2, -signal.SIGKILL)


def test_the_backoff_starts_over_once_a_child_has_stayed_up(make_supervisor, tmp_path):
    status_file = tmp_path / "local-llm.json"
    supervisor = make_supervisor(backoff_initial=0.3, stable_seconds=0.5)
    supervisor.start()

    http_get(f"{supervisor.url}/crash")
    wait_until(lambda: supervisor.status.restarts == 1 and supervisor.status.state == "ready", what="a restart")
    time.sleep(0.7)
    http_get(f"{supervisor.url}/crash")
    wait_until(lambda: status_file_read(status_file)["state"] == "restarting", what="the restarting state")
    # 0.3 again, not 0.6: the child before had been up for longer than stable_seconds.
    assert status_file_read(status_file)["next_start_in"] == 0.3
    wait_until(lambda: supervisor.status.restarts == 2 and supervisor.status.state == "ready", what="a restart")


# ---------------------------------------------------------------- stopping


def test_stop_ends_the_child_and_leaves_no_process(make_supervisor, tmp_path):
    supervisor = make_supervisor()
    supervisor.start()
    pid = supervisor.status.pid

    supervisor.stop()

    assert not process_alive(pid)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert supervisor.status.state == "stopped"
    assert supervisor.status.pid is None
    # The fake server keeps SIGTERM's default action.
    assert supervisor.status.last_exit_code == -signal.SIGTERM
    assert status_file_read(tmp_path / "local-llm.json")["state"] == "stopped"
    assert not port_in_use_check(port=supervisor.port)
    supervisor.stop()  # a second stop is harmless


def test_stop_during_a_backoff_wait_starts_nothing_more(make_supervisor):
    supervisor = make_supervisor(backoff_initial=30.0)
    supervisor.start()
    http_get(f"{supervisor.url}/crash")
    wait_until(lambda: supervisor.status.state == "restarting", what="the restarting state")

    started = time.monotonic()
    supervisor.stop()

    # The 30 s wait is interrupted, not sat out.
    assert time.monotonic() - started < 10
    assert supervisor.status.state == "stopped"
    assert supervisor.status.restarts == 0
    assert not port_in_use_check(port=supervisor.port)


SUPERVISOR_SCRIPT = """
import logging, sys
from pathlib import Path
from copilot.local_llm.supervisor import LocalLLMSupervisor
logging.basicConfig(level=logging.INFO)
script, port, status_file = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
LocalLLMSupervisor(
    command=[sys.executable, script, "--port", str(port)], port=port, status_file=status_file, poll_interval=0.05
).run()
"""


# A shell without job control starts background commands with SIGINT ignored, and Python keeps it so.
SIGINT_IGNORED = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"


@pytest.mark.parametrize(
    ("signum", "prelude"),
    [(signal.SIGTERM, ""), (signal.SIGINT, ""), (signal.SIGINT, SIGINT_IGNORED)],
    ids=["SIGTERM", "SIGINT", "SIGINT-inherited-ignored"],
)
def test_a_signalled_supervisor_stops_its_child_before_it_exits(fake_server, tmp_path, signum, prelude):
    status_file = tmp_path / "local-llm.json"
    port = free_port()
    # A separate process, as in production: no Django, and the signal goes to the supervisor only.
    supervisor = subprocess.Popen(  # noqa: S603 - fixed interpreter and code
        [sys.executable, "-c", prelude + SUPERVISOR_SCRIPT, str(fake_server), str(port), str(status_file)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: status_file.exists() and status_file_read(status_file)["state"] == "ready",
            what="the supervised child",
        )
        child_pid = status_file_read(status_file)["pid"]
        assert process_alive(child_pid)

        supervisor.send_signal(signum)
        _, stderr = supervisor.communicate(timeout=WAIT_SECONDS)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()

    assert supervisor.returncode == 0, stderr
    assert "stop requested" in stderr
    # The child was the supervisor's, not ours: had it been left behind it would now be an orphan.
    assert not process_alive(child_pid)
    assert status_file_read(status_file)["state"] == "stopped"
    assert not port_in_use_check(port=port)


# ---------------------------------------------------------------- health


def test_health_reports_a_running_server_with_its_model_and_the_supervisor_state(make_supervisor, tmp_path):
    supervisor = make_supervisor()
    supervisor.start()

    result = local_llm_status_get(base_url=f"{supervisor.url}/v1", status_file=tmp_path / "local-llm.json")

    assert result["loaded"] is True
    assert result["url"] == supervisor.url
    assert result["model"] == "fake-model"
    assert "error" not in result
    assert (result["state"], result["restarts"], result["pid"]) == ("ready", 0, supervisor.status.pid)


def test_health_reports_a_loading_server_as_not_loaded(fake_server):
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - the fake server
        [sys.executable, str(fake_server), "--port", str(port), "--loading-seconds", "600"]
    )
    try:
        wait_until(lambda: port_in_use_check(port=port), what="the fake server to listen")
        result = local_llm_status_get(base_url=f"http://127.0.0.1:{port}", status_file=None)
    finally:
        process.terminate()
        process.wait()
    assert result == {"loaded": False, "url": f"http://127.0.0.1:{port}", "model": None, "error": "Loading model"}


def test_health_reports_a_down_server_without_raising_and_still_reads_the_status_file(tmp_path):
    port = free_port()
    status_file = tmp_path / "local-llm.json"
    status_file.write_text(
        json.dumps({"state": "restarting", "restarts": 4, "last_exit_code": -9, "next_start_in": 8.0, "other": "x"})
    )

    result = local_llm_status_get(base_url=f"http://127.0.0.1:{port}", status_file=status_file, timeout=0.2)

    assert result["loaded"] is False
    assert result["model"] is None
    assert result["error"].startswith("unreachable: ")
    assert (result["state"], result["restarts"], result["last_exit_code"]) == ("restarting", 4, -9)
    assert "other" not in result


@pytest.mark.parametrize("content", [None, "", "{not json", "[1, 2]"], ids=["missing", "empty", "broken", "list"])
def test_health_ignores_a_missing_or_unreadable_status_file(tmp_path, content):
    status_file = tmp_path / "local-llm.json"
    if content is not None:
        status_file.write_text(content)
    result = local_llm_status_get(base_url=f"http://127.0.0.1:{free_port()}", status_file=status_file, timeout=0.2)
    assert set(result) == {"loaded", "url", "model", "error"}


def test_health_sends_the_api_key_for_the_model_list(make_supervisor):
    supervisor = make_supervisor(extra_env={"LOCAL_LLM_API_KEY": "sekret"})
    supervisor.start()
    # /health is public in llama.cpp; /v1/models is not.
    assert local_llm_status_get(base_url=supervisor.url, status_file=None)["model"] is None
    with_key = local_llm_status_get(base_url=supervisor.url, status_file=None, api_key="sekret")
    assert (with_key["loaded"], with_key["model"]) == (True, "fake-model")


def test_the_http_probe_refuses_other_schemes_and_normalises_the_url():
    assert local_llm_http_get(url="file:///etc/passwd", timeout=0.1) == (
        None,
        None,
        "not an http(s) URL: 'file:///etc/passwd'",
    )
    assert local_llm_root_url(base_url=" http://127.0.0.1:8181/v1/ ") == "http://127.0.0.1:8181"
    assert local_llm_root_url(base_url="http://127.0.0.1:8181") == "http://127.0.0.1:8181"


# ---------------------------------------------------------------- the server module and the command


def run_server_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed interpreter and module
        [sys.executable, "-m", "copilot.local_llm.server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_server_module_refuses_a_missing_model_file_with_exit_2(tmp_path):
    result = run_server_module("--model", str(tmp_path / "absent.gguf"), "--port", str(free_port()))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"model file not found: {tmp_path / 'absent.gguf'}" in result.stderr


def test_the_server_module_refuses_bad_arguments_with_exit_2(tmp_path):
    result = run_server_module("--model", str(tmp_path / "m.gguf"), "--port", "8181", "--threads", "0")
    assert result.returncode == 2
    assert "--threads must be at least 1" in result.stderr


def test_the_server_module_reports_a_file_llama_cpp_cannot_load_with_exit_1(tmp_path):
    pytest.importorskip("xllamacpp")
    model = tmp_path / "not-a-model.gguf"
    model.write_bytes(b"NOPE" + bytes(4096))
    result = run_server_module("--model", str(model), "--port", str(free_port()), "--threads", "1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "llama.cpp could not start with" in result.stderr


def test_llm_serve_refuses_a_model_without_a_pinned_checksum(settings):
    settings.LOCAL_LLM_SHA256 = {}
    with pytest.raises(CommandError, match=r"No SHA-256 is pinned for qwen2\.5-coder-0\.5b"):
        call_command("llm_serve", "--model", "qwen2.5-coder-0.5b")
