"""Our own Prometheus metrics (docs/operations.md, "Observability"); django-prometheus adds the
request and response ones. ``/metrics`` serves both.

With several processes (``serve_prod``), ``PROMETHEUS_MULTIPROC_DIR`` names a folder every process
writes its samples to, and ``/metrics`` on any process reports the sum of all of them.
"""

import os

from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric

# Copilot steps take from a millisecond (a regex) to tens of seconds (a slow model).
STEP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

TURNS = Counter("helpdesk_copilot_turns_total", "Copilot turns stored, by engine and outcome", ["engine", "outcome"])
STEP_SECONDS = Histogram(
    "helpdesk_copilot_step_seconds", "Duration of each copilot step", ["step"], buckets=STEP_BUCKETS
)
STEP_ERRORS = Counter("helpdesk_copilot_step_errors_total", "Copilot steps that failed, by step", ["step"])
LLM_FALLBACKS = Counter(
    "helpdesk_llm_fallbacks_total",
    "Turns in which the configured engine failed and the offline one answered",
    ["engine"],
)
ESCALATIONS = Counter("helpdesk_escalations_total", "Human-takeover tickets opened, by priority", ["priority"])
WEBSOCKETS = Gauge(
    "helpdesk_websocket_connections", "Open websocket connections, by socket", ["socket"], multiprocess_mode="livesum"
)


def turn_observe(*, engine: str, steps: list[dict], fallback: str, escalated: bool, failed: bool) -> None:
    outcome = "failed" if failed else "escalated" if escalated else "answered"
    TURNS.labels(engine=engine, outcome=outcome).inc()
    for step in steps:
        STEP_SECONDS.labels(step=step["name"]).observe(step["ms"] / 1000)
        if not step.get("ok", True):
            STEP_ERRORS.labels(step=step["name"]).inc()
    if fallback:
        LLM_FALLBACKS.labels(engine=engine).inc()


def escalation_observe(*, priority: str) -> None:
    ESCALATIONS.labels(priority=priority).inc()


class QueueDepthCollector:
    """Work waiting, read when Prometheus scrapes: Celery's queue in Redis, and the conversations
    waiting for an agent."""

    def collect(self) -> list[Metric]:
        from helpdesk.models import Conversation

        depth = GaugeMetricFamily("helpdesk_queue_depth", "Work waiting, by queue", labels=["queue"])
        depth.add_metric(
            ["waiting_for_agent"], Conversation.objects.filter(status=Conversation.Status.PENDING_HUMAN).count()
        )
        celery = _celery_queue_length()
        if celery is not None:
            depth.add_metric(["celery"], celery)
        return [depth]


def _celery_queue_length() -> int | None:
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis"):
        return None
    import redis

    try:
        client = redis.Redis.from_url(broker, socket_timeout=1, socket_connect_timeout=1)
        try:
            return int(client.llen("celery"))
        finally:
            client.close()
    except redis.RedisError:
        return None


def metrics_text() -> bytes:
    """The exposition text: every process's samples when multiprocess, then the queue depths."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    queues = CollectorRegistry(auto_describe=True)
    queues.register(QueueDepthCollector())
    return generate_latest(registry) + generate_latest(queues)
