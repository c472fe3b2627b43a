"""The OpenAPI schema names the error answers an operation can give (helpdesk/api/schema.py):
before it, the fuzzer met 400, 401, 403, 404, 409, 415 and 429 answers the schema never listed."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def operations(django_db_blocker) -> dict[str, dict]:
    with django_db_blocker.unblock():
        schema = Client().get("/api/schema/", {"format": "json"}).json()
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def codes(operations: dict, label: str) -> set[str]:
    return set(operations[label]["responses"])


def test_every_operation_documents_a_400(operations):
    assert [label for label, operation in operations.items() if "400" not in operation["responses"]] == []


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        # The agents' API: session first, so DRF answers 403 (never 401) without credentials.
        ("GET /api/conversations", {"200", "400", "403", "404", "429"}),
        ("POST /api/conversations/{id}/reply", {"201", "400", "403", "404", "409", "415", "429"}),
        ("PATCH /api/tickets/{id}", {"200", "400", "403", "404", "409", "415", "429"}),
        # Token authentication names its scheme: 401.
        ("GET /api/accounts/{account_id}", {"200", "400", "401", "403", "404", "429", "503"}),
        ("POST /api/privacy/customers/{customer_id}/erase", {"200", "400", "401", "403", "404", "429"}),
        ("GET /api/widget/conversation", {"200", "400", "401", "403", "429"}),
        ("POST /api/widget/conversation/csat", {"200", "400", "401", "403", "409", "415", "429"}),
        # Open to anyone, but a hash that does not vouch for the customer id is a 403.
        ("POST /api/widget/conversations", {"200", "201", "400", "403", "415", "429"}),
        ("GET /api/kb/search", {"200", "400", "429", "503"}),
    ],
)
def test_an_operation_documents_the_errors_it_can_give(operations, label, expected):
    assert codes(operations, label) == expected


def test_errors_have_a_body_schema(operations):
    responses = operations["GET /api/conversations/{id}"]["responses"]
    assert responses["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "oneOf" in responses["400"]["content"]["application/json"]["schema"]


def test_the_api_accepts_json_only(operations):
    bodies = [operation["requestBody"]["content"] for operation in operations.values() if "requestBody" in operation]
    assert bodies
    assert all(list(content) == ["application/json"] for content in bodies)
