"""The copilot with CRM_BACKEND=http: the card and the tools read the remote CRM, and when it
is down the customer hears so honestly, a person gets the ticket, and nothing is made up."""

import pytest

from copilot.events import MessageEvent
from copilot.models import CopilotTurn
from copilot.pipeline import turn_run_collect
from copilot.services import customer_message_receive
from helpdesk.models import Ticket
from helpdesk.services import conversation_start


@pytest.fixture
def crm(remote_crm):
    return remote_crm


@pytest.fixture
def ask(petr, django_capture_on_commit_callbacks):
    def send(text: str) -> tuple[str, CopilotTurn]:
        conversation = conversation_start(customer=petr, language="en")
        message, _ = customer_message_receive(conversation=conversation, content=text)
        with django_capture_on_commit_callbacks(execute=True):
            events = turn_run_collect(message_id=message.pk)
        answer = next(event for event in events if isinstance(event, MessageEvent))
        return answer.text, CopilotTurn.objects.get(customer_message=message)

    return send


def test_the_order_comes_from_the_remote_crm(crm, ask):
    answer, turn = ask("Where is my order 12345?")
    # Our own tables say PPL; the remote CRM says DHL Express.
    assert "DHL Express" in answer and "DHL998877" in answer
    assert "PPL" not in answer
    assert turn.tools[0]["ok"] is True
    paths = [request["path"] for request in crm.requests]
    assert "/api/customers/cus_1001/orders/12345" in paths
    assert "/api/customers/cus_1001/account" in paths
    # Only the verified customer's id was ever asked about.
    assert all(path.startswith("/api/customers/cus_1001/") for path in paths)


def test_a_crm_that_is_down_is_admitted_escalated_and_not_guessed(crm, ask):
    crm.fail("status", 503, times=20)
    answer, turn = ask("Where is my order 12345?")
    assert "can't reach our order and account system" in answer
    # No fact about the order itself (the help centre's general text may still be quoted).
    for invented in ("PPL", "DHL", "BC1234", "Order #12345 was", "on its way"):
        assert invented not in answer
    assert turn.tools[0]["error"] == "crm_unavailable"
    steps = {step["name"]: step for step in turn.steps}
    assert steps["crm_card"]["ok"] is False and "HTTP 503" in steps["crm_card"]["error"]
    assert steps["route_tools"]["ok"] is False
    assert turn.escalated
    assert Ticket.objects.filter(conversation=turn.conversation, kind=Ticket.Kind.ESCALATION).exists()


def test_a_slow_crm_costs_the_turn_at_most_its_timeouts(crm, ask, settings):
    settings.CRM_RETRIES = 0
    crm.fail("slow", 3.0, times=3)
    answer, turn = ask("Where is my order 12345?")
    assert "can't reach" in answer
    assert turn.total_ms < 3000
