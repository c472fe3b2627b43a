"""The copilot's admin: staff edit the taxonomy and read the traces; nobody edits a trace."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from copilot.models import AnalyticsEvent, ConversationMemory, CopilotTurn, Intent
from copilot.services import turn_follow_up
from helpdesk.services import conversation_start
from tests.copilot.test_services import record_turn
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

MODELS = ["intent", "copilotturn", "conversationmemory", "analyticsevent"]
READ_ONLY = ["copilotturn", "conversationmemory", "analyticsevent"]


def url(model: str, view: str, *args) -> str:
    return reverse(f"admin:copilot_{model}_{view}", args=args)


@pytest.fixture
def turn() -> CopilotTurn:
    conversation = conversation_start(customer=CustomerFactory(name="Emma Clarke"))
    turn = record_turn(conversation, "Where is my parcel 12345?", intent="shipping", sentiment="frustrated")
    return turn_follow_up(turn_id=turn.pk)


@pytest.fixture
def objects(turn) -> dict:
    return {
        "intent": Intent.objects.get(name="shipping"),
        "copilotturn": turn,
        "conversationmemory": ConversationMemory.objects.get(conversation=turn.conversation),
        "analyticsevent": AnalyticsEvent.objects.get(turn=turn),
    }


@pytest.mark.parametrize("model", MODELS)
def test_staff_can_open_the_changelist_search_and_change_page(staff_client, objects, model):
    obj = objects[model]
    assert staff_client.get(url(model, "changelist")).status_code == 200
    assert staff_client.get(url(model, "changelist"), {"q": "parcel"}).status_code == 200
    change = staff_client.get(url(model, "change", obj.pk))
    assert change.status_code == 200
    assert change.context["original"] == obj


@pytest.mark.parametrize("model", MODELS)
def test_anonymous_users_are_sent_to_the_login(client, objects, model):
    for page in (url(model, "changelist"), url(model, "change", objects[model].pk)):
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_the_intent_list_shows_labels_and_example_counts(staff_client):
    shipping = Intent.objects.get(name="shipping")
    response = staff_client.get(url("intent", "changelist"))
    row = next(r for r in response.context["cl"].result_list if r.pk == shipping.pk)
    assert row.example_count == shipping.examples.count() > 0
    assert "Shipping and delivery" in response.content.decode()


def test_searching_the_intent_list_keeps_the_example_counts(staff_client):
    shipping = Intent.objects.get(name="shipping")
    response = staff_client.get(url("intent", "changelist"), {"q": "shipping"})
    row = next(r for r in response.context["cl"].result_list if r.pk == shipping.pk)
    assert row.example_count == shipping.examples.count()


def test_the_intent_list_sorts_by_example_count(staff_client):
    response = staff_client.get(url("intent", "changelist"), {"o": "-6"})
    counts = [intent.example_count for intent in response.context["cl"].result_list]
    assert counts == sorted(counts, reverse=True)
    assert len(counts) == Intent.objects.count()


def test_the_intent_search_finds_an_intent_by_its_example_text(staff_client):
    response = staff_client.get(url("intent", "changelist"), {"q": "charged twice"})
    names = [intent.name for intent in response.context["cl"].result_list]
    assert names == ["billing"]


def test_an_intent_is_edited_with_its_examples_inline(staff_client):
    billing = Intent.objects.get(name="billing")
    response = staff_client.get(url("intent", "change", billing.pk))
    content = response.content.decode()
    assert 'name="_save"' in content
    assert escape(billing.examples.first().text) in content
    assert staff_client.get(url("intent", "add")).status_code == 200


@pytest.mark.parametrize("model", READ_ONLY)
def test_traces_cannot_be_added(staff_client, model):
    assert staff_client.get(url(model, "add")).status_code == 403


@pytest.mark.parametrize("model", READ_ONLY)
def test_trace_pages_are_read_only(staff_client, objects, model):
    obj = objects[model]
    page = staff_client.get(url(model, "change", obj.pk))
    assert 'name="_save"' not in page.content.decode()
    assert staff_client.post(url(model, "change", obj.pk), {}).status_code == 403


def test_a_posted_change_to_a_turn_is_refused_and_changes_nothing(staff_client, turn):
    response = staff_client.post(url("copilotturn", "change", turn.pk), {"intent": "billing", "qa_score": "1"})
    assert response.status_code == 403
    turn.refresh_from_db()
    assert (turn.intent, turn.qa_score) == ("shipping", 9.0)


def test_turn_list_filters(staff_client, turn):
    filters = {"intent": "shipping", "sentiment__exact": "frustrated"}
    listed = staff_client.get(url("copilotturn", "changelist"), filters)
    assert [row.pk for row in listed.context["cl"].result_list] == [turn.pk]
    other = staff_client.get(url("copilotturn", "changelist"), {"intent": "billing"})
    assert list(other.context["cl"].result_list) == []
    year = staff_client.get(url("copilotturn", "changelist"), {"created_at__year": turn.created_at.year})
    assert [row.pk for row in year.context["cl"].result_list] == [turn.pk]


def test_turn_search_looks_in_the_customer_message_and_the_reply(staff_client, turn):
    by_question = staff_client.get(url("copilotturn", "changelist"), {"q": "parcel 12345"})
    assert [row.pk for row in by_question.context["cl"].result_list] == [turn.pk]
    by_answer = staff_client.get(url("copilotturn", "changelist"), {"q": "here is what I found"})
    assert [row.pk for row in by_answer.context["cl"].result_list] == [turn.pk]
    nothing = staff_client.get(url("copilotturn", "changelist"), {"q": "football"})
    assert list(nothing.context["cl"].result_list) == []
