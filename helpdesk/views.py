import hmac
import ipaddress
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from copilot.local_llm.health import LOCAL_LLM_STATUS_FILENAME, local_llm_status_get
from helpdesk.client_ip import request_client_ip
from helpdesk.demo import demo_seed_allowed
from helpdesk.health import llm_status_get, redis_status_get
from helpdesk.identity import identity_hash_compute
from helpdesk.metrics import metrics_text
from helpdesk.selectors import (
    customer_get_by_external_id,
    database_status_get,
    demo_customers_get,
    site_overview_get,
)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "helpdesk/home.html", {"overview": site_overview_get()})


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    try:
        database = database_status_get()
    except DatabaseError as exc:
        return JsonResponse({"status": "error", "database": {"ok": False, "error": str(exc)}}, status=503)
    status = 200 if database["ok"] else 503
    body = {"status": "ok" if status == 200 else "error", "database": database}
    if settings.LOCAL_LLM:
        # Reported, not required: without the model the copilot answers with the offline engine.
        body["local_llm"] = local_llm_status_get(
            base_url=f"http://127.0.0.1:{settings.LOCAL_LLM_PORT}",
            status_file=Path(settings.DATA_DIR) / LOCAL_LLM_STATUS_FILENAME,
            api_key=settings.LOCAL_LLM_API_KEY or None,
        )
    return JsonResponse(body, status=status)


@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness for a load balancer: 503 unless the database and (when configured) Redis answer.
    The model server is reported but not required: without it the copilot answers offline."""
    try:
        database = database_status_get()
    except DatabaseError as exc:
        database = {"ok": False, "error": str(exc)}
    body = {"database": database, "llm": llm_status_get()}
    required = [database["ok"]]
    redis = redis_status_get()
    if redis is not None:
        body["redis"] = redis
        required.append(redis["ok"])
    ok = all(required)
    body["status"] = "ok" if ok and body["llm"]["ok"] else "degraded" if ok else "error"
    return JsonResponse(body, status=200 if ok else 503)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape: with ``METRICS_TOKEN`` set, only ``Authorization: Bearer <token>``;
    without, only from this machine (a scraper on loopback or a sidecar)."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return HttpResponse("A bearer token is required.", status=401, content_type="text/plain")
    elif not ipaddress.ip_address(request_client_ip(request) or "0.0.0.0").is_loopback:  # noqa: S104 (not a bind)
        return HttpResponse(
            "Metrics are served to this machine only; set METRICS_TOKEN.", status=403, content_type="text/plain"
        )
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


@require_safe
def demo_shop(request: HttpRequest) -> HttpResponse:
    """A demo shop page with the widget embedded. Choosing a customer plays the shop's
    backend: it signs that customer's id, exactly as a real host site would.

    It signs any customer's id with the real WIDGET_IDENTITY_SECRET, so it exists only where
    the demo data may (DEMO_SEED_ALLOWED: development, never production by default)."""
    if not demo_seed_allowed():
        raise Http404("There is no demo shop here.")
    customers = demo_customers_get()
    chosen = customer_get_by_external_id(external_id=request.GET.get("as", ""))
    if chosen is not None and chosen not in customers:
        customers.append(chosen)
    return render(
        request,
        "helpdesk/demo.html",
        {
            "customers": customers,
            "chosen": chosen,
            "identity_hash": identity_hash_compute(external_id=chosen.external_id) if chosen else "",
        },
    )
