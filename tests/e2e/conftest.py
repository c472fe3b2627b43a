"""Real-browser tests: daphne in a subprocess on its own database, Debian's chromium via Playwright.

They run as their own pytest invocation (``pytest -m e2e``): sync Playwright keeps an
event loop in the main thread, which would break the ORM and the asyncio tests of the
main run. Nothing here uses the test database; the server gets a scratch database of its
own, migrated and seeded like ``make run`` (with a smaller knowledge base).
"""

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Articles the flow needs; embedding all 54 would add ~40 s.
KB_SLUGS = ["reset-password", "refund-timelines", "late-delivery", "returns-policy", "how-to-return-an-item"]

SEED = f"""
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from helpdesk.demo import demo_seed
demo_seed(kb_slugs={KB_SLUGS!r})
"""

SHOP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another shop</title></head>
<body><h1>Another shop</h1><p>Hosted elsewhere; the chat comes from one script tag.</p>
<script src="{server}/static/widget/widget.js" data-language="en" defer></script>
</body></html>
"""


def _server_url() -> str:
    sys.path.insert(0, str(ROOT))
    from bench.scratch import _server_url as server_url

    return server_url()


def _admin(url: str) -> psycopg.Connection:
    from bench.scratch import _admin_conninfo

    return psycopg.connect(_admin_conninfo(url), autocommit=True)


def wait_http(url: str, process: subprocess.Popen, *, seconds: float = 60) -> None:
    """Until ``url`` answers 200; fails early if the process serving it exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def shop_origin() -> str:
    """Another site that embeds the widget: a different address (127.0.0.2), so another origin."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.2", 0))
        return f"http://127.0.0.2:{sock.getsockname()[1]}"


@pytest.fixture(scope="session")
def shop_page(shop_origin, live_server_url) -> str:
    """A plain page on the shop's origin whose only link to us is the widget's script tag."""
    html = SHOP_PAGE.format(server=live_server_url).encode()

    class Shop(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    parsed = urlparse(shop_origin)
    server = http.server.ThreadingHTTPServer((parsed.hostname, parsed.port), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{shop_origin}/"
    server.shutdown()
    server.server_close()


def server_env() -> dict[str, str]:
    """The live server's environment and database, also for a ``manage.py``-style subprocess
    that writes to it (the tests' seeding through the app's own services)."""
    name = os.environ.get("TEST_DATABASE_NAME", "test_postgres") + "_e2e"
    return {
        **os.environ,
        "DATABASE_URL": urlparse(_server_url())._replace(path=f"/{name}").geturl(),
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.local",
        "DJANGO_DEBUG": "false",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "COPILOT_ENGINE": "offline",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp"),  # noqa: S108
    }


def server_python(code: str, *, stdin: str = "") -> str:
    """Run ``code`` with Django set up on the live server's database; its output."""
    script = "import django\ndjango.setup()\n" + code
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=server_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def live_server_url(shop_origin):
    name = os.environ.get("TEST_DATABASE_NAME", "test_postgres") + "_e2e"
    url = _server_url()
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**server_env(), "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "WIDGET_ALLOWED_ORIGINS": shop_origin}
    subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=env, check=True, timeout=600)  # noqa: S603
    port = _free_port()
    daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
    log = open(ROOT / ".data" / "e2e-daphne.log", "w")  # noqa: SIM115
    server = subprocess.Popen(  # noqa: S603
        [daphne, "-b", "127.0.0.1", "-p", str(port), "helpdesk.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", server)
    except RuntimeError as exc:
        raise RuntimeError(f"daphne did not start; see {log.name}") from exc
    yield base
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = ROOT / ".data" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
