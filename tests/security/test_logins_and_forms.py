"""Logins, forms and abuse limits: django-axes lockouts, CSRF on every cookie-authenticated
write, the client address behind proxies, and request size limits."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from helpdesk.client_ip import client_ip, scope_client_ip
from tests.factories import AgentProfileFactory, ConversationFactory, StaffFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-agent-password"  # noqa: S105
ROOT = Path(__file__).resolve().parents[2]
CONSOLE_LOGIN = "/console/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def agent():
    profile = AgentProfileFactory(user__username="jana")
    profile.user.set_password(PASSWORD)
    profile.user.save()
    return profile.user


def sign_in(client: Client, url: str, username: str, password: str, address: str = "198.51.100.7"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


# ---------------------------------------------------------------- brute-force lockout


@pytest.mark.parametrize("url", [CONSOLE_LOGIN, ADMIN_LOGIN])
def test_the_sixth_attempt_is_refused_even_with_the_right_password(client, agent, settings, url):
    if url == ADMIN_LOGIN:
        agent.is_staff = True
        agent.save()
    failures = [sign_in(client, url, "jana", f"guess-{n}").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    assert failures[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    locked = sign_in(client, url, "jana", PASSWORD)
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.text
    assert "Try again in 15 minutes" in locked.text
    assert "_auth_user_id" not in client.session


def test_a_lockout_is_per_account_and_address(client, agent):
    for n in range(5):
        sign_in(client, CONSOLE_LOGIN, "jana", f"guess-{n}")
    assert sign_in(client, CONSOLE_LOGIN, "jana", PASSWORD).status_code == 429
    # Nobody can lock Jana out from elsewhere by failing with her name on purpose.
    other_place = Client()
    assert sign_in(other_place, CONSOLE_LOGIN, "jana", PASSWORD, address="203.0.113.9").status_code == 302
    colleague = AgentProfileFactory(user__username="marek").user
    colleague.set_password(PASSWORD)
    colleague.save()
    assert sign_in(Client(), CONSOLE_LOGIN, "marek", PASSWORD).status_code == 302


def test_the_lockout_lifts_after_the_cool_off(client, agent):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for n in range(5):
            sign_in(client, CONSOLE_LOGIN, "jana", f"guess-{n}")
        assert sign_in(client, CONSOLE_LOGIN, "jana", PASSWORD).status_code == 429
        traveller.shift(timedelta(minutes=14))
        assert sign_in(client, CONSOLE_LOGIN, "jana", PASSWORD).status_code == 429
        traveller.shift(timedelta(minutes=2))
        assert sign_in(client, CONSOLE_LOGIN, "jana", PASSWORD).status_code == 302


def test_a_successful_sign_in_resets_the_count(client, agent):
    for n in range(4):
        sign_in(client, CONSOLE_LOGIN, "jana", f"guess-{n}")
    assert sign_in(client, CONSOLE_LOGIN, "jana", PASSWORD).status_code == 302
    client.post("/console/logout/")
    for n in range(4):
        assert sign_in(client, CONSOLE_LOGIN, "jana", f"again-{n}").status_code == 200
    assert sign_in(client, CONSOLE_LOGIN, "jana", PASSWORD).status_code == 302


def test_a_forged_forwarded_for_does_not_buy_fresh_attempts(client, agent):
    for n in range(5):
        client.post(
            CONSOLE_LOGIN,
            {"username": "jana", "password": f"guess-{n}"},
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        )
    response = client.post(
        CONSOLE_LOGIN,
        {"username": "jana", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_FORWARDED_FOR="10.0.0.99",
    )
    assert response.status_code == 429


def test_the_lockout_page_escapes_the_username(client, agent):
    hostile = '<img src=x onerror="alert(1)">'
    for n in range(5):
        sign_in(client, CONSOLE_LOGIN, hostile, f"guess-{n}")
    response = sign_in(client, CONSOLE_LOGIN, hostile, "again")
    assert response.status_code == 429
    assert hostile not in response.text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in response.text


# ---------------------------------------------------------------- the client's address


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "", "192.0.2.10"),
        (0, "6.6.6.6", "192.0.2.10"),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", "192.0.2.10"),
    ],
)
def test_forwarded_for_is_trusted_only_as_far_as_the_proxies(settings, proxies, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(remote_addr="192.0.2.10", forwarded_for=forwarded_for) == expected
    scope = {"client": ("192.0.2.10", 5000), "headers": [(b"x-forwarded-for", forwarded_for.encode())]}
    assert scope_client_ip(scope) == expected


def test_anonymous_throttles_ignore_a_forged_forwarded_for(client, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "widget": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    statuses = [
        client.post(
            reverse("api-widget-conversations"), {}, content_type="application/json", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}"
        ).status_code
        for n in range(3)
    ]
    assert statuses == [201, 201, 429]


# ---------------------------------------------------------------- CSRF


def _callbacks(resolver: URLResolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _callbacks(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def test_every_csrf_exempt_view_is_a_drf_view_that_enforces_csrf_for_cookies_itself():
    """DRF marks its views csrf_exempt and checks CSRF in SessionAuthentication instead; any
    other exempt view, or a DRF view with a cookie login that skips the check, is a hole."""
    exempt = [(route, view) for route, view in _callbacks(get_resolver()) if getattr(view, "csrf_exempt", False)]
    assert exempt, "the API views are expected here"
    for route, callback in exempt:
        view_class = getattr(callback, "cls", None)
        assert view_class is not None and issubclass(view_class, APIView), route
        for authentication in view_class().get_authenticators():
            if isinstance(authentication, SessionAuthentication):
                assert type(authentication).enforce_csrf is SessionAuthentication.enforce_csrf, route


def test_every_post_form_in_the_templates_carries_a_csrf_token():
    forms = 0
    for path in [*(ROOT / "templates").rglob("*.html"), *(ROOT / "knowledge").rglob("templates/**/*.html")]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<form\b[^>]*>(.*?)</form>", text, flags=re.DOTALL | re.IGNORECASE):
            if re.search(r'method="post"', match.group(0)[:200], flags=re.IGNORECASE):
                forms += 1
                assert "{% csrf_token %}" in match.group(1), f"{path.name}: a POST form without csrf_token"
    assert forms >= 3


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def test_the_console_login_needs_the_csrf_token(csrf_client, agent):
    assert sign_in(csrf_client, CONSOLE_LOGIN, "jana", PASSWORD).status_code == 403
    page = csrf_client.get(CONSOLE_LOGIN)
    token = page.context["csrf_token"]
    response = csrf_client.post(
        CONSOLE_LOGIN, {"username": "jana", "password": PASSWORD, "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302


def test_logout_needs_the_csrf_token(csrf_client, agent):
    csrf_client.force_login(agent)
    assert csrf_client.post("/console/logout/").status_code == 403
    assert "_auth_user_id" in csrf_client.session


def test_admin_forms_need_the_csrf_token(csrf_client):
    csrf_client.force_login(StaffFactory())
    response = csrf_client.post(reverse("admin:knowledge_category_add"), {"name": "Forged", "slug": "forged"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("api-conversation-take-over", {}),
        ("api-conversation-reply", {"text": "Forged reply"}),
        ("api-conversation-notes", {"text": "Forged note"}),
        ("api-conversation-resolve", {}),
    ],
)
def test_the_agents_api_refuses_a_cookie_write_without_the_csrf_token(csrf_client, agent, name, body):
    conversation = ConversationFactory()
    csrf_client.force_login(agent)
    response = csrf_client.post(reverse(name, args=[conversation.pk]), body, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    conversation.refresh_from_db()
    assert conversation.messages.count() == 0
    assert conversation.status == conversation.Status.BOT


def test_the_agents_api_accepts_the_same_write_with_the_token(csrf_client, agent):
    conversation = ConversationFactory()
    csrf_client.force_login(agent)
    csrf_client.get("/console/")
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(
        reverse("api-conversation-notes", args=[conversation.pk]),
        {"text": "A real note"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201


def test_a_signed_in_agent_cookie_does_not_open_the_widget_api(client, agent):
    """The widget authenticates by its conversation token only, so a cookie cannot be ridden there."""
    client.force_login(agent)
    response = client.get(reverse("api-widget-conversation"))
    assert response.status_code == 401


# ---------------------------------------------------------------- size limits


def test_an_oversized_json_body_is_refused_cleanly(client, settings):
    body = '{"language": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    response = client.post(reverse("api-widget-conversations"), body, content_type="application/json")
    assert response.status_code in (400, 413)


def test_an_oversized_agent_reply_is_refused_with_a_reason(client, agent):
    conversation = ConversationFactory()
    client.force_login(agent)
    client.post(reverse("api-conversation-take-over", args=[conversation.pk]), {}, content_type="application/json")
    response = client.post(
        reverse("api-conversation-reply", args=[conversation.pk]),
        {"text": "y" * 100_000},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "text" in response.json()
    assert conversation.messages.filter(role="agent").count() == 0
