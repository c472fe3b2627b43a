import contextlib
import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from copilot.events import EscalatedEvent, MessageEvent, StatusEvent, event_as_dict
from copilot.llm import ENGINES
from copilot.models import CopilotTurn
from copilot.pipeline import turn_run_collect
from copilot.services import customer_message_receive
from crm.selectors import customer_find
from helpdesk.models import Conversation
from helpdesk.selectors import conversation_get_for_customer
from helpdesk.services import conversation_start


class Command(BaseCommand):
    help = "Talk to the copilot: `ask` one message and print a report, or `chat` interactively."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (("ask", "answer one message and print a report"), ("chat", "an interactive session")):
            command = sub.add_parser(name, help=text)
            if name == "ask":
                command.add_argument("message")
                command.add_argument("--json", action="store_true", help="print the trace as JSON")
            command.add_argument("--customer", help="email, external id (cus_1001) or id of the customer")
            command.add_argument("--conversation", help="continue this conversation (id or public id)")
            command.add_argument("--engine", choices=ENGINES, help="default: COPILOT_ENGINE")
            command.add_argument("--delivery", choices=CopilotTurn.Delivery.values, help="default: by engine")

    def handle(self, *args, action: str, **options):
        if action == "ask" and not options["message"].strip():
            raise CommandError("A message cannot be empty.")
        customer = None
        if options["customer"]:
            customer = customer_find(ref=options["customer"])
            if customer is None:
                raise CommandError(f"No customer {options['customer']!r} (try an email or an id like cus_1001).")
        if options["conversation"]:
            conversation = conversation_get_for_customer(customer=customer, conversation_id=options["conversation"])
            if conversation is None:
                raise CommandError(f"No conversation {options['conversation']!r} for this customer.")
        else:
            conversation = conversation_start(customer=customer, channel=Conversation.Channel.CLI)
        if action == "ask":
            self.ask(conversation, options["message"], options, as_json=options["json"])
            return
        self.chat(conversation, options)

    def turn(self, conversation: Conversation, text: str, options: dict) -> tuple[list, CopilotTurn | None]:
        try:
            message, _ = customer_message_receive(conversation=conversation, content=text)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        events = turn_run_collect(
            message_id=message.pk, text=message.content, engine=options["engine"], delivery=options["delivery"]
        )
        turn = (
            CopilotTurn.objects.select_related("ticket", "conversation__customer__account")
            .filter(customer_message=message)
            .first()
        )
        return events, turn

    def ask(self, conversation: Conversation, text: str, options: dict, *, as_json: bool) -> None:
        if as_json:
            # Standard output is for the JSON alone: whatever the turn prints on the way (the
            # development settings print an escalation's email there) goes to standard error.
            with contextlib.redirect_stdout(sys.stderr):
                events, turn = self.turn(conversation, text, options)
        else:
            events, turn = self.turn(conversation, text, options)
        if as_json:
            payload = {"conversation": str(conversation.public_id), "events": [event_as_dict(e) for e in events]}
            if turn:
                payload["turn"] = turn_as_dict(turn)
            self.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
            return
        if turn is None:
            self.stdout.write("An agent has this conversation; the copilot stays silent.")
            return
        self.stdout.write(report(turn, events))

    def chat(self, conversation: Conversation, options: dict) -> None:
        self.stdout.write(f"Conversation {conversation.pk} ({conversation.public_id}). Empty line or Ctrl-D ends it.")
        while True:
            try:
                text = input("you> ").strip()
            except EOFError:
                break
            if not text:
                break
            events, turn = self.turn(conversation, text, options)
            for event in events:
                if isinstance(event, StatusEvent):
                    self.stdout.write(f"  … {event.text}")
                elif isinstance(event, EscalatedEvent):
                    self.stdout.write(f"  ! escalated: {event.ticket_reference} ({', '.join(event.reasons)})")
                elif isinstance(event, MessageEvent):
                    self.stdout.write(f"bot> {event.text}")
                    for citation in event.citations:
                        self.stdout.write(f"     [{citation['n']}] {citation['title']} {citation['url']}")
            if turn is not None:
                self.stdout.write(
                    f"  ({turn.intent}, {turn.sentiment}/{turn.urgency}, QA {turn.qa_score}, {turn.total_ms} ms)"
                )
            sys.stdout.flush()


def turn_as_dict(turn: CopilotTurn) -> dict:
    fields = [
        "engine",
        "model",
        "delivery",
        "fallback",
        "steps",
        "total_ms",
        "first_token_ms",
        "llm_calls",
        "prompt_tokens",
        "completion_tokens",
        "language",
        "intent",
        "intent_confidence",
        "sentiment",
        "urgency",
        "entities",
        "tools",
        "retrieval_confidence",
        "citations",
        "escalated",
        "escalation_reasons",
        "qa_score",
        "qa_reasons",
        "regenerated",
        "flagged",
        "guard_blocks",
        "follow_up",
        "suggested_replies",
    ]
    data = {name: getattr(turn, name) for name in fields}
    data["ticket"] = turn.ticket.reference if turn.ticket_id else None
    return data


def report(turn: CopilotTurn, events: list) -> str:
    customer = turn.conversation.customer
    lines = [f"Support Copilot · {turn.engine} engine ({turn.model}) · {turn.delivery} delivery", ""]
    lines.append("CUSTOMER")
    if customer is None:
        lines.append("  anonymous (not signed in)")
    else:
        lines.append(
            f"  {customer.name} <{customer.email}> · {customer.external_id} · {customer.tier} · {customer.locale}"
        )
        account = getattr(customer, "account", None)
        if account:
            lines.append(f"  account {account.number} · {account.status} · {account.subscription_tier}")
    lines += ["", "ANALYSIS"]
    lines.append(f"  language   {turn.language}")
    lines.append(f"  intent     {turn.intent} ({turn.intent_confidence:.2f})")
    lines.append(f"  sentiment  {turn.sentiment}, urgency {turn.urgency}")
    entities = {key: value for key, value in turn.entities.items() if value}
    lines.append(f"  entities   {json.dumps(entities, ensure_ascii=False) if entities else 'none'}")
    confidence = f"{turn.retrieval_confidence:.2f}" if turn.retrieval_confidence is not None else "n/a"
    lines.append(f"  knowledge  confidence {confidence}")
    if turn.tools:
        lines += ["", "TOOLS"]
        for tool in turn.tools:
            outcome = "ok" if tool["ok"] else tool["error"]
            review = " · needs manual review" if tool["needs_review"] else ""
            lines.append(f"  {tool['name']}: {outcome}{review}")
            for key, value in tool["data"].items():
                if value not in (None, "", []):
                    lines.append(f"      {key}: {value}")
    lines += ["", "ESCALATION"]
    if turn.ticket_id:
        ticket = turn.ticket
        due = timezone.localtime(ticket.sla_due_at)
        lines.append(f"  {ticket.reference} · priority {ticket.priority} · due {due:%Y-%m-%d %H:%M}")
        lines.append(f"  reasons: {', '.join(turn.escalation_reasons)}")
    elif turn.escalation_reasons:
        lines.append(f"  reasons: {', '.join(turn.escalation_reasons)} (conversation already with a person)")
    else:
        lines.append("  none")
    message = next((event for event in events if isinstance(event, MessageEvent)), None)
    lines += ["", "RESPONSE"]
    lines += [f"  {line}" for line in (message.text if message else "").splitlines()]
    for citation in turn.citations:
        lines.append(f"  [{citation['n']}] {citation['title']} — {citation['url']}")
    lines += ["", "QUALITY"]
    regenerated = " · regenerated once" if turn.regenerated else ""
    lines.append(f"  {turn.qa_score}/10{regenerated}{' · flagged for agents' if turn.flagged else ''}")
    lines += [f"  - {reason}" for reason in turn.qa_reasons]
    lines += ["", "FOLLOW-UP PLAN"]
    lines += [f"  - {step}" for step in turn.follow_up.get("steps", ["(pending)"])]
    lines += ["", "METRICS"]
    first = f", first token {turn.first_token_ms} ms" if turn.first_token_ms is not None else ""
    lines.append(f"  total {turn.total_ms} ms{first}")
    lines.append("  " + " · ".join(f"{step['name']} {step['ms']:.1f}" for step in turn.steps))
    lines.append(f"  LLM calls {turn.llm_calls}, tokens {turn.prompt_tokens} in / {turn.completion_tokens} out")
    if turn.fallback:
        lines.append(f"  fell back to the offline engine: {turn.fallback}")
    return "\n".join(lines)
