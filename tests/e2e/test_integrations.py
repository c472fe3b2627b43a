"""The integration paths over real HTTP against the live server: another system calls the
integration API with a token, the helpdesk calls its webhook receiver, and Prometheus scrapes
/metrics. Nothing in-process: urllib on one side, daphne on the other."""

import json
import urllib.error
import urllib.request

import pytest

from integrations.services.webhooks import webhook_signature_verify
from tests.e2e.conftest import server_python
from tests.integrations.receiver import WebhookReceiver
from tests.servers import serving

pytestmark = pytest.mark.e2e

SECRET = "e2e-webhook-secret"
SETUP = """
import json, sys
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from integrations.models import WebhookEndpoint
user, _ = get_user_model().objects.get_or_create(username="e2e-bridge")
user.user_permissions.add(Permission.objects.get(codename="use_api", content_type__app_label="integrations"))
token, _ = Token.objects.get_or_create(user=user)
given = json.load(sys.stdin)
WebhookEndpoint.objects.update_or_create(
    name="e2e receiver",
    defaults={"url": given["url"], "secret": given["secret"], "events": ["escalation.created", "ticket.updated"]},
)
print(token.key)
"""


@pytest.fixture(scope="module")
def receiver():
    with serving(WebhookReceiver()) as server:
        yield server


@pytest.fixture(scope="module")
def token(live_server_url, receiver) -> str:
    given = json.dumps({"url": receiver.url, "secret": SECRET})
    return server_python(SETUP, stdin=given).strip().splitlines()[-1]


def call(base: str, method: str, path: str, *, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_a_partner_backend_chats_escalates_and_the_receiver_hears_it(live_server_url, token, receiver):
    status, answer = call(
        live_server_url,
        "POST",
        "/api/chat",
        token=token,
        body={"customer_id": "cus_1001", "message": "Where is my order 12345?"},
    )
    assert status == 200, answer
    assert "12345" in answer["response"]
    assert answer["needs_escalation"] is False
    session = answer["session_id"]

    status, ticket = call(
        live_server_url,
        "POST",
        "/api/support/escalate",
        token=token,
        body={"customer_id": "cus_1001", "reason": "VIP wants a call", "priority": "high", "session_id": session},
    )
    assert status == 201, ticket
    assert ticket["ticket_id"].startswith("ESC-")
    assert ticket["session_id"] == session

    # The helpdesk called the receiver, signed, over HTTP.
    (delivery,) = [
        request for request in receiver.received if request.headers["X-Webhook-Event"] == "escalation.created"
    ]
    assert webhook_signature_verify(secret=SECRET, body=delivery.body, header=delivery.headers["X-Webhook-Signature"])
    event = json.loads(delivery.body)
    assert event["data"]["ticket"]["ticket_id"] == ticket["ticket_id"]
    assert event["data"]["ticket"]["customer_id"] == "cus_1001"

    status, sent = call(
        live_server_url,
        "POST",
        "/api/support/send",
        token=token,
        body={"customer_id": "cus_1001", "message": "A colleague will call you today.", "session_id": session},
    )
    assert status == 201, sent
    assert sent["message_id"].startswith("MSG-")
    assert sent["delivery_status"] in {"delivered", "email_queued", "stored"}


def test_accounts_logs_and_exports_answer_over_http(live_server_url, token):
    status, account = call(live_server_url, "GET", "/api/accounts/ACC-1001", token=token)
    assert status == 200, account
    assert account["customer_id"] == "cus_1001"
    status, logged = call(
        live_server_url, "POST", "/api/analytics/log", token=token, body={"event": "crm.synced", "data": {"rows": 3}}
    )
    assert (status, logged["status"]) == (201, "logged")
    status, export = call(live_server_url, "GET", "/api/privacy/customers/cus_1001/export", token=token)
    assert status == 200
    assert export["customer"]["id"] == "cus_1001"
    assert any(conversation["channel"] == "api" for conversation in export["conversations"])


def test_without_a_token_nothing_answers(live_server_url, token):
    for method, path in (
        ("GET", "/api/accounts/ACC-1001"),
        ("POST", "/api/chat"),
        ("GET", "/api/privacy/customers/cus_1001/export"),
    ):
        status, _ = call(live_server_url, method, path, body={} if method == "POST" else None)
        assert status == 401, path
    status, _ = call(live_server_url, "GET", "/api/accounts/ACC-1001", token="not-a-token")
    assert status == 401


def test_prometheus_scrapes_the_counts_of_what_happened(live_server_url, token):
    call(
        live_server_url,
        "POST",
        "/api/chat",
        token=token,
        body={"customer_id": "cus_1007", "message": "How long do refunds take?"},
    )
    with urllib.request.urlopen(f"{live_server_url}/metrics", timeout=30) as response:  # noqa: S310
        text = response.read().decode()
    turns = [line for line in text.splitlines() if line.startswith("helpdesk_copilot_turns_total{")]
    assert turns and sum(float(line.rsplit(" ", 1)[1]) for line in turns) >= 1
    assert 'helpdesk_copilot_step_seconds_count{step="retrieve_knowledge"}' in text
    with urllib.request.urlopen(f"{live_server_url}/ready", timeout=30) as response:  # noqa: S310
        assert json.loads(response.read())["database"]["ok"] is True
