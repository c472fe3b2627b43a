import http.server
import json
import threading

import pytest
from django.db import connection
from django.urls import reverse

from tests.factories import CustomerFactory, TicketFactory

pytestmark = pytest.mark.django_db


def test_home_page_shows_live_counts_and_links(client):
    CustomerFactory.create_batch(3)
    TicketFactory()
    response = client.get(reverse("home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Support Copilot" in body
    assert reverse("admin:index") in body
    # 3 customers + the ticket's own customer.
    assert '<span class="num">4</span><span>customers</span>' in body
    assert '<span class="num">1</span><span>open tickets</span>' in body


def test_home_page_rejects_post(client):
    assert client.post(reverse("home")).status_code == 405


def test_health_reports_postgres_and_pgvector(client):
    response = client.get(reverse("health"))
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "ok"
    assert data["database"]["ok"] is True
    assert data["database"]["postgres"].startswith(("17", "18"))
    assert data["database"]["pgvector"]


def test_health_is_503_when_pgvector_is_missing(client):
    # The test's transaction is rolled back afterwards, which brings the extension back.
    with connection.cursor() as cursor:
        cursor.execute("DROP EXTENSION vector CASCADE")
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["database"]["pgvector"] is None


class LlamaHealth(http.server.BaseHTTPRequestHandler):
    """llama.cpp's server as /health sees it: loaded, serving one model, behind an API key."""

    def do_GET(self):  # noqa: N802
        if self.path == "/health":
            body = {"status": "ok"}
        elif self.path == "/v1/models" and self.headers.get("Authorization") == "Bearer test-llm-key":
            body = {"object": "list", "data": [{"id": "qwen2.5-coder-1.5b", "object": "model"}]}
        else:
            self.send_response(401)
            self.end_headers()
            return
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def llama(settings):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LlamaHealth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.LOCAL_LLM = True
    settings.LOCAL_LLM_PORT = server.server_address[1]
    settings.LOCAL_LLM_API_KEY = "test-llm-key"
    yield server
    server.shutdown()
    server.server_close()


def test_health_reports_the_loaded_local_model(client, llama):
    data = client.get(reverse("health")).json()
    assert data["local_llm"]["loaded"] is True
    assert data["local_llm"]["model"] == "qwen2.5-coder-1.5b"


def test_a_local_model_that_is_down_is_reported_without_failing_health(client, llama):
    llama.shutdown()
    llama.server_close()
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response.json()["local_llm"]["loaded"] is False
    assert response.json()["local_llm"]["error"]


def test_health_says_nothing_of_a_local_model_that_is_not_configured(client):
    assert "local_llm" not in client.get(reverse("health")).json()


def test_openapi_schema_is_served(client):
    response = client.get(reverse("api-schema"))
    assert response.status_code == 200
    assert b"Support Copilot API" in response.content


@pytest.mark.parametrize("path", ["/", "/health", "/ready", "/help/", "/demo/", "/help/search/?q=refund"])
def test_head_works_wherever_get_does(client, settings, path):
    settings.DEMO_SEED_ALLOWED = True
    got = client.get(path)
    head = client.head(path)
    assert got.status_code == 200
    # Uptime checkers send HEAD: the same status as GET (not 405).
    assert head.status_code == got.status_code
