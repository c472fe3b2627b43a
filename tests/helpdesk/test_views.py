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


def test_openapi_schema_is_served(client):
    response = client.get(reverse("api-schema"))
    assert response.status_code == 200
    assert b"Support Copilot API" in response.content
