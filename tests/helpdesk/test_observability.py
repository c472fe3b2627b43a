"""/ready, /metrics and the metrics the helpdesk records itself."""

import socket

import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from helpdesk.metrics import turn_observe
from helpdesk.services.escalation import ticket_escalate
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sample(name: str, labels: dict) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---------------------------------------------------------------- /ready


def test_ready_with_the_offline_engine_and_no_redis(client, settings):
    settings.REDIS_URL = ""
    settings.COPILOT_ENGINE = "offline"
    response = client.get(reverse("ready"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["llm"] == {"engine": "offline", "ok": True}
    assert "redis" not in body


def test_not_ready_when_redis_is_configured_but_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get(reverse("ready"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["redis"]["ok"] is False
    assert "ConnectionError" in body["redis"]["error"]


def test_ready_asks_the_model_server_and_only_reports_it(client, settings, openai_server):
    settings.REDIS_URL = ""
    settings.COPILOT_ENGINE = "openai"
    settings.COPILOT_MODEL = "stub-model"
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{openai_server.server_address[1]}/v1"
    body = client.get(reverse("ready")).json()
    assert body["llm"] == {"engine": "openai", "ok": True, "model": "stub-model", "model_listed": True}
    assert any(request["path"] == "/v1/models" for request in openai_server.requests)

    # The model server down: the copilot answers offline, so the app is still ready, degraded.
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port()}/v1"
    response = client.get(reverse("ready"))
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["llm"]["ok"] is False


# ---------------------------------------------------------------- /metrics


def test_metrics_are_served_to_this_machine(client, settings):
    settings.METRICS_TOKEN = ""
    steps = [{"name": "generate", "ms": 12.0, "ok": True}]
    turn_observe(engine="offline", steps=steps, fallback="", escalated=False, failed=False)
    response = client.get(reverse("metrics"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for name in (
        "helpdesk_copilot_turns_total",
        "helpdesk_copilot_step_seconds_bucket",
        "helpdesk_websocket_connections",
        'helpdesk_queue_depth{queue="waiting_for_agent"}',
        "django_http_requests_total_by_method_total",
    ):
        assert name in text, name


def test_metrics_refuse_other_machines_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get(reverse("metrics"), REMOTE_ADDR="203.0.113.9").status_code == 403


def test_metrics_with_a_token_need_it_from_everywhere(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get(reverse("metrics")).status_code == 401
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer scrape-secret", REMOTE_ADDR="203.0.113.9")
    assert ok.status_code == 200


def test_a_turn_counts_its_outcome_steps_errors_and_fallback():
    before = {
        "answered": sample("helpdesk_copilot_turns_total", {"engine": "openai", "outcome": "answered"}),
        "failed": sample("helpdesk_copilot_turns_total", {"engine": "openai", "outcome": "failed"}),
        "errors": sample("helpdesk_copilot_step_errors_total", {"step": "generate"}),
        "fallbacks": sample("helpdesk_llm_fallbacks_total", {"engine": "openai"}),
        "generate": sample("helpdesk_copilot_step_seconds_count", {"step": "generate"}),
        "slow": sample("helpdesk_copilot_step_seconds_bucket", {"step": "generate", "le": "1.0"}),
    }
    steps = [
        {"name": "generate", "ms": 2500.0, "ok": False, "error": "timeout"},
        {"name": "embed_message", "ms": 4.0, "ok": True},
    ]
    turn_observe(engine="openai", steps=steps, fallback="generate: timeout", escalated=False, failed=False)
    turn_observe(engine="openai", steps=[], fallback="", escalated=False, failed=True)
    assert sample("helpdesk_copilot_turns_total", {"engine": "openai", "outcome": "answered"}) == before["answered"] + 1
    assert sample("helpdesk_copilot_turns_total", {"engine": "openai", "outcome": "failed"}) == before["failed"] + 1
    assert sample("helpdesk_copilot_step_errors_total", {"step": "generate"}) == before["errors"] + 1
    assert sample("helpdesk_llm_fallbacks_total", {"engine": "openai"}) == before["fallbacks"] + 1
    assert sample("helpdesk_copilot_step_seconds_count", {"step": "generate"}) == before["generate"] + 1
    # 2.5 s is above the 1 s bucket.
    assert sample("helpdesk_copilot_step_seconds_bucket", {"step": "generate", "le": "1.0"}) == before["slow"]


def test_an_escalation_is_counted_when_it_commits(django_capture_on_commit_callbacks):
    before = sample("helpdesk_escalations_total", {"priority": "urgent"})
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        ticket_escalate(conversation=conversation, subject="Angry", reason="anger", priority="urgent")
    assert sample("helpdesk_escalations_total", {"priority": "urgent"}) == before + 1
    # The same escalation again reuses the open ticket: not a new one.
    with django_capture_on_commit_callbacks(execute=True):
        ticket_escalate(conversation=conversation, subject="Angry", reason="anger", priority="urgent")
    assert sample("helpdesk_escalations_total", {"priority": "urgent"}) == before + 1
