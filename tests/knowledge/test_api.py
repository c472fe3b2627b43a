import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.factories import AgentProfileFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = reverse("api-kb-search")


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def test_search_returns_ranked_results_with_citations(client, kb):
    response = client.get(URL, {"q": "how long until my money comes back"})
    assert response.status_code == 200
    data = response.json()
    assert data["query"] == "how long until my money comes back"
    assert data["answerable"] is True and 0 <= data["confidence"] <= 1
    first = data["results"][0]
    assert first["slug"] == "refund-timelines"
    assert first["url"] == "/help/refund-timelines/"
    assert "5 business days" in first["excerpt"]
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_filters_by_locale_and_category(client, kb):
    data = client.get(URL, {"q": "reklamace vadného zboží", "locale": "cs"}).json()
    assert data["results"][0]["slug"] == "jak-podat-reklamaci"
    data = client.get(URL, {"q": "refund", "category": "technical", "limit": 10}).json()
    assert {r["category"] for r in data["results"]} == {"technical"}


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": "  "}, "q"), ({"q": "x", "locale": "xx"}, "locale"), ({"q": "x", "limit": 99}, "limit")],
)
def test_bad_parameters_get_a_clear_400(client, params, field):
    response = client.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_search_is_public_and_the_same_for_customers_and_agents(client, kb):
    anonymous = client.get(URL, {"q": "E42"}).json()
    customer_user = UserFactory()
    CustomerFactory()
    client.force_login(customer_user)
    as_user = client.get(URL, {"q": "E42"}).json()
    client.force_login(AgentProfileFactory().user)
    as_agent = client.get(URL, {"q": "E42"}).json()
    assert anonymous["results"][0]["slug"] == as_user["results"][0]["slug"] == as_agent["results"][0]["slug"]


def test_search_is_throttled(client, settings, kb):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"kb_search": "3/min"}}
    statuses = [client.get(URL, {"q": "refund"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Retry-After" in client.get(URL, {"q": "refund"}).headers


def test_search_is_in_the_openapi_schema(client):
    schema = client.get(reverse("api-schema")).content.decode()
    assert "/api/kb/search" in schema
    assert "confidence" in schema


def test_a_failing_embeddings_server_gives_a_clear_503_not_a_crash(client, settings, openai_server, kb):
    from knowledge.embeddings import embedder_get

    openai_server.fail_next(status=500, times=10)
    settings.EMBEDDINGS_BACKEND = "openai"
    settings.EMBEDDINGS_BASE_URL = openai_server.base_url
    embedder_get.cache_clear()
    try:
        response = client.get(URL, {"q": "refund"})
        assert response.status_code == 503
        assert "unavailable" in response.json()["detail"]
        page = client.get(reverse("help:search"), {"q": "refund"})
        assert page.status_code == 200
        assert "Search is unavailable right now" in page.content.decode()
    finally:
        embedder_get.cache_clear()
