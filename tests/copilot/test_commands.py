"""The management commands: `copilot ask|chat` on the demo shop, and `intents_import`."""

import builtins
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from copilot.models import CopilotTurn, Intent, IntentExample
from crm.models import Customer
from helpdesk.models import Conversation
from helpdesk.services import conversation_start
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REPORT_SECTIONS = ["CUSTOMER", "ANALYSIS", "TOOLS", "ESCALATION", "RESPONSE", "QUALITY", "FOLLOW-UP PLAN", "METRICS"]


def copilot(*args: str) -> str:
    out = io.StringIO()
    call_command("copilot", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def latest_turn() -> CopilotTurn:
    return CopilotTurn.objects.select_related("reply", "ticket").latest("id")


# ---------------------------------------------------------------- copilot ask


def test_ask_prints_every_section_of_the_report(petr):
    output = copilot("ask", "Where is my order 12345?", "--customer", "petr.svoboda@EXAMPLE.cz")
    turn = latest_turn()
    lines = output.splitlines()
    assert lines[0] == f"Support Copilot · offline engine ({turn.model}) · verified delivery"
    headers = [line for line in lines if line in REPORT_SECTIONS]
    assert headers == REPORT_SECTIONS
    assert "  Petr Svoboda <petr.svoboda@example.cz> · cus_1001 · gold · cs" in lines
    assert f"  account {petr.account.number} · active · premium" in lines
    assert "  language   en" in lines
    assert f"  intent     {turn.intent} ({turn.intent_confidence:.2f})" in lines
    assert '  entities   {"order_numbers": ["12345"]}' in lines
    tools = lines[lines.index("TOOLS") + 1 : lines.index("ESCALATION")]
    assert tools[0] == "  order_status: ok"
    for fact in ("number: 12345", "carrier: PPL", "currency: CZK", "days_in_transit: 12", "late: True"):
        assert f"      {fact}" in tools
    response = lines[lines.index("RESPONSE") + 1 : lines.index("QUALITY")]
    cited = [f"  [{c['n']}] {c['title']} — {c['url']}" for c in turn.citations]
    assert response == [f"  {line}" for line in turn.reply.content.splitlines()] + cited + [""]
    assert "12345" in "\n".join(response)
    assert lines[lines.index("QUALITY") + 1].startswith(f"  {turn.qa_score}/10")
    # The plan is written after commit, and the test's transaction never commits.
    assert lines[lines.index("FOLLOW-UP PLAN") + 1] == "  - (pending)"
    assert f"  total {turn.total_ms} ms, first token {turn.first_token_ms} ms" in lines
    assert "  LLM calls 0, tokens 0 in / 0 out" in lines
    conversation = turn.conversation
    assert (conversation.customer, conversation.channel) == (petr, "cli")


def test_ask_reports_an_escalation_with_its_ticket(shop):
    output = copilot("ask", "I want to speak to a manager, this is ridiculous!", "--customer", "cus_1005")
    turn = latest_turn()
    lines = output.splitlines()
    escalation = lines[lines.index("ESCALATION") + 1 : lines.index("RESPONSE")]
    assert escalation[0].startswith(f"  {turn.ticket.reference} · priority {turn.ticket.priority} · due ")
    assert escalation[1] == f"  reasons: {', '.join(turn.escalation_reasons)}"
    assert "human_request" in turn.escalation_reasons


def test_ask_prints_the_sla_deadline_in_local_time(shop):
    output = copilot("ask", "I want to speak to a manager, this is ridiculous!", "--customer", "cus_1005")
    ticket = latest_turn().ticket
    assert f"due {timezone.localtime(ticket.sla_due_at):%Y-%m-%d %H:%M}" in output


def test_ask_as_an_anonymous_visitor(shop):
    output = copilot("ask", "Is my account suspended?")
    turn = latest_turn()
    lines = output.splitlines()
    assert lines[lines.index("CUSTOMER") + 1] == "  anonymous (not signed in)"
    assert turn.conversation.customer is None
    # The account question reaches the account tool, which asks a visitor to sign in first.
    assert turn.intent == "account"
    assert lines[lines.index("TOOLS") + 1 : lines.index("ESCALATION") - 1] == ["  account_status: no_customer"]


def test_a_visitor_who_forgot_their_password_is_not_asked_to_sign_in(shop):
    output = copilot("ask", "I forgot my password, how do I reset it?")
    assert "TOOLS" not in output.splitlines()
    assert latest_turn().tools == []
    assert "sign in to your account first" not in output


def test_ask_json_has_the_events_and_the_trace(petr):
    payload = json.loads(copilot("ask", "Where is my order 12345?", "--customer", "cus_1001", "--json"))
    turn = latest_turn()
    assert payload["conversation"] == str(turn.conversation.public_id)
    types = [event["type"] for event in payload["events"]]
    assert types[0] == "status" and types[-1] == "message"
    assert payload["events"][-1]["text"] == turn.reply.content
    assert payload["events"][-1]["turn_id"] == turn.pk
    trace = payload["turn"]
    assert (trace["engine"], trace["delivery"], trace["language"]) == ("offline", "verified", "en")
    assert {"load_context", "classify_intent", "route_tools", "generate", "quality_check"} <= {
        step["name"] for step in trace["steps"]
    }
    assert trace["tools"][0]["data"]["number"] == "12345"
    assert trace["entities"]["order_numbers"] == ["12345"]
    assert trace["qa_score"] == turn.qa_score
    assert trace["ticket"] == (turn.ticket.reference if turn.ticket_id else None)


def test_ask_continues_the_customers_own_conversation(petr):
    conversation = conversation_start(customer=petr)
    before = Conversation.objects.count()
    copilot("ask", "Where is my order 12345?", "--customer", "cus_1001", "--conversation", str(conversation.public_id))
    assert Conversation.objects.count() == before
    assert list(conversation.messages.values_list("role", flat=True)) == ["customer", "assistant"]


def test_ask_stays_silent_while_an_agent_has_the_conversation(petr):
    conversation = conversation_start(customer=petr)
    Conversation.objects.filter(pk=conversation.pk).update(status="human", assigned_agent=UserFactory())
    output = copilot("ask", "Hello?", "--customer", "cus_1001", "--conversation", str(conversation.pk))
    assert output.strip() == "An agent has this conversation; the copilot stays silent."
    assert not CopilotTurn.objects.filter(conversation=conversation).exists()


def test_ask_for_an_unknown_customer_is_an_error(shop):
    before = Conversation.objects.count()
    with pytest.raises(CommandError, match="No customer 'nobody@example.com'"):
        copilot("ask", "Hello", "--customer", "nobody@example.com")
    assert Conversation.objects.count() == before


def test_ask_in_another_customers_conversation_is_an_error(petr):
    tereza = Customer.objects.get(external_id="cus_1002")
    theirs = conversation_start(customer=tereza)
    for ref in (str(theirs.pk), str(theirs.public_id)):
        with pytest.raises(CommandError, match=f"No conversation '{ref}' for this customer"):
            copilot("ask", "Where is my order?", "--customer", "cus_1001", "--conversation", ref)
    # Without --customer only anonymous conversations are reachable.
    with pytest.raises(CommandError, match="No conversation"):
        copilot("ask", "Where is my order?", "--conversation", str(theirs.pk))
    assert not theirs.messages.exists()


@pytest.mark.parametrize("message", ["", "   "])
def test_ask_with_an_empty_message_is_an_error(shop, message):
    with pytest.raises(CommandError, match="A message cannot be empty."):
        copilot("ask", message, "--customer", "cus_1001")
    assert not CopilotTurn.objects.filter(conversation__customer__external_id="cus_1001").exists()


def test_ask_with_an_empty_message_leaves_no_conversation(shop):
    before = Conversation.objects.count()
    with pytest.raises(CommandError):
        copilot("ask", "", "--customer", "cus_1001")
    assert Conversation.objects.count() == before


# ---------------------------------------------------------------- copilot chat


@pytest.fixture
def typed(monkeypatch):
    """Feed ``input()`` these lines; an exception instance is raised instead of returned."""
    prompts: list[str] = []

    def feed(*lines):
        queue = list(lines)

        def fake_input(prompt=""):
            prompts.append(prompt)
            line = queue.pop(0)
            if isinstance(line, BaseException):
                raise line
            return line

        monkeypatch.setattr(builtins, "input", fake_input)
        return prompts

    return feed


def test_chat_answers_each_line_until_an_empty_one(petr, typed):
    prompts = typed("Where is my order 12345?", "  Thank you very much!  ", "", "never read")
    output = copilot("chat", "--customer", "cus_1001")
    conversation = Conversation.objects.filter(customer=petr, channel="cli").latest("id")
    turns = list(CopilotTurn.objects.filter(conversation=conversation).order_by("id"))
    lines = output.splitlines()
    assert prompts == ["you> ", "you> ", "you> "]
    assert lines[0] == (f"Conversation {conversation.pk} ({conversation.public_id}). Empty line or Ctrl-D ends it.")
    assert len(turns) == 2
    assert turns[1].customer_message.content == "Thank you very much!"
    bot_lines = [line for line in lines if line.startswith("bot> ")]
    assert [line.removeprefix("bot> ") for line in bot_lines] == [turn.reply.content.splitlines()[0] for turn in turns]
    for turn in turns:
        assert f"  ({turn.intent}, {turn.sentiment}/{turn.urgency}, QA {turn.qa_score}, {turn.total_ms} ms)" in lines
    assert any(line.startswith("  … ") for line in lines)


def test_chat_ends_on_ctrl_d(petr, typed):
    prompts = typed("How do I reset my password?", EOFError())
    output = copilot("chat", "--customer", "cus_1001")
    assert prompts == ["you> ", "you> "]
    assert sum(line.startswith("bot> ") for line in output.splitlines()) == 1
    conversation = Conversation.objects.filter(customer=petr, channel="cli").latest("id")
    assert conversation.copilot_turns.count() == 1


def test_chat_in_another_customers_conversation_is_an_error(petr, typed):
    prompts = typed("Hello")
    theirs = conversation_start(customer=Customer.objects.get(external_id="cus_1002"))
    with pytest.raises(CommandError):
        copilot("chat", "--customer", "cus_1001", "--conversation", str(theirs.pk))
    assert prompts == []


# ---------------------------------------------------------------- intents_import


def csv_file(tmp_path: Path, text: str, *, encoding: str = "utf-8") -> str:
    path = tmp_path / "intents.csv"
    path.write_text(text, encoding=encoding)
    return str(path)


def intents_import(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("intents_import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_a_text_intent_csv(tmp_path):
    path = csv_file(
        tmp_path,
        'text,intent\nHow many points do I have?,Loyalty Points\n"Can I pay with points, too?",loyalty_points\n'
        "Where is my parcel right now?,shipping\n",
    )
    out, err = intents_import(path, "--no-embed")
    assert out.strip() == (
        "Imported 3 examples (0 already there) into 1 new intents; removed 0 intents; 0 bad rows; embedded 0 examples."
    )
    assert err == ""
    assert sorted(IntentExample.objects.filter(intent__name="loyalty_points").values_list("text", flat=True)) == [
        "Can I pay with points, too?",
        "How many points do I have?",
    ]


@pytest.mark.parametrize("header", ["text,category", "Text , Category", "\ufefftext,label", "category,text"])
def test_category_and_label_columns_stand_for_intent(tmp_path, header):
    columns = [name.strip().lower().lstrip("\ufeff") for name in header.split(",")]
    row = ",".join({"text": "Do points expire?"}.get(name, "loyalty") for name in columns)
    path = csv_file(tmp_path, f"{header}\n{row}\n")
    intents_import(path, "--no-embed")
    assert IntentExample.objects.get(text="Do points expire?").intent.name == "loyalty"


def test_a_utf8_bom_from_excel_is_ignored(tmp_path):
    path = csv_file(tmp_path, "text,intent\nKde je moje zásilka s botami?,shipping\n", encoding="utf-8-sig")
    out, _ = intents_import(path, "--no-embed")
    assert out.startswith("Imported 1 examples")
    assert IntentExample.objects.filter(intent__name="shipping", text="Kde je moje zásilka s botami?").exists()


@pytest.mark.parametrize("header", ["text,topic", "utterance,intent", ""])
def test_a_file_without_the_needed_columns_is_an_error(tmp_path, header):
    path = csv_file(tmp_path, f"{header}\nsomething,else\n" if header else "")
    before = IntentExample.objects.count()
    with pytest.raises(CommandError, match="needs a 'text' column and an 'intent' column"):
        intents_import(path, "--no-embed")
    assert IntentExample.objects.count() == before


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match=r"Cannot read .*missing\.csv: No such file or directory"):
        intents_import(str(tmp_path / "missing.csv"))


def test_import_extends_the_taxonomy_by_default(tmp_path):
    intents, examples = Intent.objects.count(), IntentExample.objects.count()
    path = csv_file(tmp_path, "text,intent\nDo points expire?,loyalty\nWhere is my parcel right now?,shipping\n")
    intents_import(path, "--no-embed")
    assert Intent.objects.count() == intents + 1
    assert IntentExample.objects.count() == examples + 2


def test_replace_makes_the_file_the_whole_taxonomy(tmp_path):
    removed = Intent.objects.exclude(name="shipping").count()
    path = csv_file(tmp_path, "text,intent\nDo points expire?,loyalty\nWhere is my parcel right now?,shipping\n")
    out, _ = intents_import(path, "--replace", "--no-embed")
    assert f"into 1 new intents; removed {removed} intents;" in out
    assert sorted(Intent.objects.values_list("name", flat=True)) == ["loyalty", "shipping"]
    assert IntentExample.objects.count() == 2


def test_running_the_same_file_twice_skips_the_known_examples(tmp_path):
    path = csv_file(tmp_path, "text,intent\nDo points expire?,loyalty\n")
    intents_import(path, "--no-embed")
    out, _ = intents_import(path, "--no-embed")
    assert out.startswith("Imported 0 examples (1 already there) into 0 new intents;")


def test_bad_rows_are_reported_and_skipped(tmp_path):
    path = csv_file(
        tmp_path,
        "text,intent\nDo points expire?,loyalty\n,loyalty\nNo intent here,\n" + "x" * 501 + ",loyalty\nOnly text\n",
    )
    out, err = intents_import(path, "--no-embed")
    assert err.splitlines() == [
        "skipped row 2: needs both text and intent",
        "skipped row 3: needs both text and intent",
        "skipped row 4: text longer than 500 characters",
        "skipped row 5: needs both text and intent",
    ]
    assert "Imported 1 examples" in out and "; 4 bad rows;" in out
    assert list(IntentExample.objects.filter(intent__name="loyalty").values_list("text", flat=True)) == [
        "Do points expire?"
    ]


def test_only_the_first_twenty_bad_rows_are_printed(tmp_path):
    path = csv_file(tmp_path, "text,intent\n" + ",loyalty\n" * 25)
    out, err = intents_import(path, "--no-embed")
    assert len(err.splitlines()) == 20
    assert err.splitlines()[-1] == "skipped row 20: needs both text and intent"
    assert "; 25 bad rows;" in out


def test_import_embeds_the_new_examples(shop, tmp_path):
    path = csv_file(tmp_path, "text,intent\nDo points expire?,loyalty\nHow many points do I have?,loyalty\n")
    out, _ = intents_import(path)
    assert out.strip().endswith("; 0 bad rows; embedded 2 examples.")
    assert not IntentExample.objects.filter(intent__name="loyalty", embedding__isnull=True).exists()
