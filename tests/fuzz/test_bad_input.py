"""Bad input gets a 400 (or a 404 for a path id nothing has), never a 500: the cases the fuzzer
and the security review found, over real HTTP requests through the whole middleware stack."""

import json

import pytest
from django.urls import reverse

from helpdesk.identity import IdentityError, customer_verify, identity_hash_compute
from tests.factories import ConversationFactory, CustomerFactory

pytestmark = pytest.mark.django_db

WIDGET_START = reverse("api-widget-conversations")
WIDGET_HISTORY = reverse("api-widget-conversation")
DEEP = 5000


def post_raw(client, path: str, body: str, method: str = "post"):
    return getattr(client, method)(path, body.encode("utf-8", "surrogatepass"), content_type="application/json")


def detail(response) -> str:
    """The whole error body as text, whatever its shape ({"detail": ...} or {"field": [...]})."""
    return json.dumps(response.json())


# ---------------------------------------------------------------- the identity hash


def test_a_non_ascii_identity_hash_is_refused_by_customer_verify():
    # hmac.compare_digest raises TypeError for a str that is not ASCII.
    CustomerFactory(external_id="cus_1")
    with pytest.raises(IdentityError):
        customer_verify(external_id="cus_1", identity_hash="é" * 64)


def test_an_id_no_host_site_could_sign_is_refused_by_customer_verify():
    with pytest.raises(IdentityError):
        customer_verify(external_id="cus_\ud800", identity_hash="0" * 64)
    # Even with the right hash, an id with a NUL names no customer (and PostgreSQL refuses to look).
    with pytest.raises(IdentityError):
        customer_verify(external_id="cus\x00", identity_hash=identity_hash_compute(external_id="cus\x00"))


@pytest.mark.parametrize("identity_hash", ["é" * 64, "ab\u00a0cd", "0" * 63 + "g"], ids=["accents", "nbsp", "not-hex"])
def test_an_identity_hash_that_is_not_hex_is_a_400_naming_the_field(anonymous, identity_hash):
    CustomerFactory(external_id="cus_1")
    response = anonymous.post(
        WIDGET_START, {"customer_id": "cus_1", "identity_hash": identity_hash}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "identity_hash" in response.json()


# ---------------------------------------------------------------- JSON bodies


def json_endpoints(conversation_pk: int) -> dict[str, tuple[str, str]]:
    """principal fixture -> (path, method) of an endpoint that reads a JSON body."""
    return {
        "anonymous": (WIDGET_START, "post"),
        "widget": (reverse("api-widget-csat"), "post"),
        "agent": (reverse("api-conversation-reply", args=[conversation_pk]), "post"),
        "agent_token": (reverse("api-ticket", args=[conversation_pk]), "patch"),
        "integration": (reverse("api-integration-log"), "post"),
    }


PRINCIPALS = ["anonymous", "widget", "agent", "agent_token", "integration"]


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("opener", ["[", '{"a":'], ids=["arrays", "objects"])
def test_json_nested_thousands_deep_is_a_400(request, principal, opener):
    client = request.getfixturevalue(principal)
    path, method = json_endpoints(ConversationFactory().pk)[principal]
    response = post_raw(client, path, opener * DEEP, method)
    assert response.status_code == 400
    assert "nested" in detail(response)


def test_json_nested_past_the_limit_but_well_formed_is_a_400_naming_where(integration):
    data = "1"
    for _ in range(80):
        data = '{"inner": ' + data + "}"
    response = post_raw(integration, reverse("api-integration-log"), '{"event": "x", "data": ' + data + "}")
    assert response.status_code == 400
    assert "data.inner.inner" in detail(response)


@pytest.mark.parametrize(
    ("principal", "body", "where"),
    [
        ("anonymous", {"customer_id": "cus\x00_1"}, "customer_id"),
        ("anonymous", {"language": "en", "token": "\x00"}, "token"),
        ("widget", {"rating": "up", "comment": "fine\x00"}, "comment"),
        ("agent", {"text": "Hello\x00"}, "text"),
        ("integration", {"event": "x", "data": {"note": "a\x00b"}}, "data.note"),
        ("integration", {"event": "x", "data": {"k\x00": 1}}, "data"),
        ("integration", {"event": "x", "data": {"list": ["ok", "\x00"]}}, "data.list[1]"),
    ],
    ids=["widget-start", "widget-token", "csat", "agent-reply", "log-value", "log-key", "log-list"],
)
def test_a_nul_in_a_json_key_or_value_is_a_400_naming_it(request, principal, body, where):
    client = request.getfixturevalue(principal)
    path, method = json_endpoints(ConversationFactory().pk)[principal]
    response = post_raw(client, path, json.dumps(body), method)
    assert response.status_code == 400
    assert where in detail(response)
    assert "NUL" in detail(response)


@pytest.mark.parametrize(
    ("principal", "raw", "where"),
    [
        ("anonymous", '{"customer_id": "\\ud800"}', "customer_id"),
        ("widget", '{"rating": "up", "comment": "\\udfff"}', "comment"),
        ("agent", '{"text": "a\\ud83d"}', "text"),
        ("integration", '{"event": "x", "data": {"\\ud800": 1}}', "data"),
    ],
    ids=["widget-start", "csat", "agent-reply", "log-key"],
)
def test_a_lone_surrogate_in_json_is_a_400_naming_it(request, principal, raw, where):
    client = request.getfixturevalue(principal)
    path, method = json_endpoints(ConversationFactory().pk)[principal]
    response = post_raw(client, path, raw, method)
    assert response.status_code == 400
    assert where in detail(response)
    assert "surrogate" in detail(response)


@pytest.mark.parametrize("number", ["1e999", "-1e999"])
def test_a_number_too_large_for_a_float_is_a_400(integration, number):
    # It parses to inf, which no jsonb column takes.
    response = post_raw(integration, reverse("api-integration-log"), '{"event": "x", "data": {"n": ' + number + "}}")
    assert response.status_code == 400
    assert "data.n" in detail(response)


def test_a_proper_surrogate_pair_is_an_emoji_and_welcome(agent):
    conversation = ConversationFactory()
    response = post_raw(agent, reverse("api-conversation-reply", args=[conversation.pk]), '{"text": "\\ud83d\\ude00"}')
    assert response.status_code == 201
    assert response.json()["content"] == "\U0001f600"


def test_forms_are_not_parsed_by_the_api(agent):
    """The API speaks JSON only: a form body never reaches a view unchecked."""
    conversation = ConversationFactory()
    response = agent.post(reverse("api-conversation-reply", args=[conversation.pk]), {"text": "Hello\x00"})
    assert response.status_code == 415


# ---------------------------------------------------------------- query strings and paths


@pytest.mark.parametrize(
    ("principal", "path", "params", "where"),
    [
        ("agent", "/api/conversations", {"search": "a\x00"}, "search"),
        ("agent_token", "/api/customers", {"search": "\x00"}, "search"),
        ("agent", "/api/tickets", {"status": "open", "mine": "\x00"}, "mine"),
        ("anonymous", "/api/kb/search", {"q": "refund\x00"}, "q"),
        ("widget", WIDGET_HISTORY, {"after": "1\x00"}, "after"),
        ("anonymous", "/help/search/", {"q": "\x00"}, "q"),
        ("anonymous", "/demo/", {"as": "cus\x00"}, "as"),
        ("agent", "/console/analytics/", {"start": "\x00"}, "start"),
    ],
)
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(request, principal, path, params, where):
    response = request.getfixturevalue(principal).get(path, params)
    assert response.status_code == 400
    assert where in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/accounts/ACC%00"),
        ("get", "/api/privacy/customers/cus%00_1/export"),
        ("post", "/api/privacy/customers/%00/erase"),
    ],
)
def test_a_nul_in_a_path_id_is_a_400(integration, method, path):
    response = getattr(integration, method)(path)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize(
    ("principal", "method", "path", "headers"),
    [
        # django-axes stores the user agent of a failed login; PostgreSQL refused the NUL.
        ("anonymous", "post", "/console/login/", {"HTTP_USER_AGENT": "curl\x00"}),
        ("anonymous", "get", "/api/conversations", {"HTTP_AUTHORIZATION": "Token a\x00b"}),
        ("anonymous", "get", "/api/accounts/ACC-1", {"HTTP_AUTHORIZATION": "Token a\x00b"}),
        ("anonymous", "get", "/console/", {"HTTP_COOKIE": 'sessionid="abcdefgh\\000"'}),
    ],
    ids=["login-user-agent", "agent-token", "integration-token", "session-cookie"],
)
def test_a_nul_in_a_header_or_cookie_is_a_400(request, principal, method, path, headers):
    client = request.getfixturevalue(principal)
    body = {"username": "nobody", "password": "wrong"} if method == "post" else None
    response = getattr(client, method)(path, body, **headers)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize("path", ["/api/conversations/" + "9" * 5000, "/api/conversations/" + "9" * 30])
def test_a_huge_path_id_is_a_404(agent, path):
    assert agent.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/api/conversations/null,null", "/api/tickets/-1", "/api/conversations/abc/reply"])
def test_a_path_id_that_is_not_a_number_is_a_json_404(agent, path):
    # Found by the fuzzer: no route matches, and Django's HTML page was not what the API documents.
    response = agent.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_outside_the_api_a_missing_page_is_still_a_page(anonymous):
    response = anonymous.get("/console/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# ---------------------------------------------------------------- integer query parameters


@pytest.mark.parametrize(
    "after", ["9" * 5000, str(2**63), "99999999999999999999", "-1", "1e3", "١"], ids=lambda v: v[:12]
)
def test_the_widgets_after_must_be_a_message_id(widget, after):
    response = widget.get(WIDGET_HISTORY, {"after": after})
    assert response.status_code == 400
    assert "after" in response.json()


def test_the_widgets_after_takes_the_largest_message_id(widget):
    assert widget.get(WIDGET_HISTORY, {"after": str(2**63 - 1)}).status_code == 200


@pytest.mark.parametrize("param", ["page", "page_size"])
@pytest.mark.parametrize("path", ["/api/conversations", "/api/tickets", "/api/customers"])
def test_a_huge_page_number_is_not_a_crash(agent, path, param):
    response = agent.get(path, {param: "9" * 5000})
    assert response.status_code in (200, 400, 404)
    assert response["Content-Type"] == "application/json"


def test_a_huge_kb_search_limit_is_a_400(anonymous):
    response = anonymous.get("/api/kb/search", {"q": "refund", "limit": "9" * 5000})
    assert response.status_code == 400
    assert "limit" in response.json()


# ---------------------------------------------------------------- the analytics range


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"end": "0001-01-01"}, ["end"]),
        ({"start": "0001-01-01", "end": "0001-01-01"}, ["start", "end"]),
        ({"start": "0001-01-01", "end": "0001-01-05"}, ["start", "end"]),
        ({"start": "0001-01-01"}, ["start"]),
    ],
    ids=["end-only", "one-day", "five-days", "start-only"],
)
@pytest.mark.parametrize("name", ["console:analytics", "console:analytics-export"])
def test_an_analytics_range_at_the_start_of_the_calendar_is_a_400_naming_the_field(agent, name, params, fields):
    response = agent.get(reverse(name), params)
    assert response.status_code == 400
    body = response.content.decode()
    for field in fields:
        assert f"The {field} must be on or after 2000-01-01." in body
