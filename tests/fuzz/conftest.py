"""The principals the REST API knows, as HTTP headers or a logged-in client: anonymous, a widget
visitor (conversation token), an agent (session or token) and an integration (token with the
integrations.use_api permission)."""

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from helpdesk.identity import conversation_token_issue
from helpdesk.models import Message
from tests.factories import (
    AccountFactory,
    AgentProfileFactory,
    ConversationFactory,
    CustomerFactory,
    MessageFactory,
    StaffFactory,
    TicketFactory,
    UserFactory,
)


def client_with(authorization: str = "") -> Client:
    # raise_request_exception off: a crash must show as the 500 a real client would get.
    client = Client(raise_request_exception=False)
    if authorization:
        client.defaults["HTTP_AUTHORIZATION"] = authorization
    return client


@pytest.fixture
def anonymous() -> Client:
    return client_with()


@pytest.fixture
def widget() -> Client:
    conversation = ConversationFactory(customer=CustomerFactory(external_id="cus_fuzz"))
    token = conversation_token_issue(
        conversation_public_id=conversation.public_id, customer_id=conversation.customer_id
    )
    return client_with(f"Conversation {token}")


@pytest.fixture
def agent() -> Client:
    client = client_with()
    client.force_login(StaffFactory(username="fuzz-staff"))
    return client


@pytest.fixture
def agent_token() -> Client:
    user = AgentProfileFactory(user=UserFactory(username="fuzz-agent")).user
    return client_with(f"Token {Token.objects.create(user=user).key}")


@pytest.fixture
def integration() -> Client:
    user = UserFactory(username="fuzz-integration")
    user.user_permissions.add(Permission.objects.get(codename="use_api", content_type__app_label="integrations"))
    return client_with(f"Token {Token.objects.create(user=user).key}")


# ---------------------------------------------------------------- the REST fuzz (test_rest_fuzz.py)


@dataclass
class Principal:
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


@dataclass
class FuzzStats:
    """What the fuzz did, for the line printed at the end of the run."""

    runs: set = field(default_factory=set)
    operations: set = field(default_factory=set)
    principals: set = field(default_factory=set)
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    # (principal, status class "2xx") -> count, to see that each principal got past the door.
    by_principal: Counter = field(default_factory=Counter)
    current: str = ""
    server_errors: list = field(default_factory=list)
    seconds: float = 0.0
    first_started: float = 0.0
    last_finished: float = 0.0

    def principal(self, name: str, operation: str) -> None:
        self.first_started = self.first_started or time.monotonic()
        self.current = name
        self.runs.add((name, operation))
        self.operations.add(operation)
        self.principals.add(name)

    def record(self, *, operation: str, status: int) -> None:
        self.requests += 1
        self.statuses[status] += 1
        self.by_principal[self.current, f"{status // 100}xx"] += 1
        if status >= 500:
            self.server_errors.append((operation, status))

    def spent(self, seconds: float) -> None:
        self.seconds += seconds
        self.last_finished = time.monotonic()

    def wall(self) -> float:
        """From the first fuzzed request to the last: setup, generation and checks included."""
        return self.last_finished - self.first_started


FUZZ_STATS = FuzzStats()


def pytest_terminal_summary(terminalreporter) -> None:
    """The fuzzers' counts, for quoting: printed whenever a fuzz test ran."""
    _rest_summary(terminalreporter)
    _socket_summary(terminalreporter)


def _rest_summary(terminalreporter) -> None:
    stats = FUZZ_STATS
    if not stats.runs:
        return
    from tests.fuzz.test_rest_fuzz import FUZZ_EXAMPLES, FUZZ_SEED

    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(stats.statuses.items()))
    terminalreporter.write_sep("-", "REST fuzz (schemathesis)")
    terminalreporter.write_line(
        f"{len(stats.operations)} operations x {len(stats.principals)} principals = {len(stats.runs)} runs; "
        f"{FUZZ_EXAMPLES} generated examples per run (seed {FUZZ_SEED}, derandomized) plus coverage cases; "
        f"{stats.requests} requests, {stats.seconds:.1f} s in requests, {stats.wall():.1f} s wall; "
        f"5xx seen: {len(stats.server_errors)}"
    )
    terminalreporter.write_line(f"statuses: {statuses}")
    for principal in sorted(stats.principals):
        classes = ", ".join(
            f"{kind}: {count}" for (name, kind), count in sorted(stats.by_principal.items()) if name == principal
        )
        terminalreporter.write_line(f"  as {principal}: {classes}")
    for operation, status in stats.server_errors[:20]:
        terminalreporter.write_line(f"  {status} {operation}")


def _socket_summary(terminalreporter) -> None:
    module = sys.modules.get("tests.fuzz.test_socket_fuzz")
    stats = getattr(module, "SOCKET_STATS", None)
    if stats is None or not sum(stats.examples.values()):
        return
    terminalreporter.write_sep("-", "socket fuzz (hypothesis)")
    for consumer, examples in sorted(stats.examples.items()):
        frames = {kind: count for (name, kind), count in stats.frames.items() if name == consumer}
        errors = {code: count for (name, code), count in stats.errors.items() if name == consumer}
        terminalreporter.write_line(
            f"{consumer}: {examples} examples ({getattr(module, 'SOCKET_EXAMPLES', '?')} per test, derandomized), "
            f"{sum(frames.values())} frames {dict(sorted(frames.items()))}; error frames {dict(sorted(errors.items()))}"
        )
    terminalreporter.write_line(f"sockets closed on a frame: {len(stats.closed)}")


@pytest.fixture
def fuzz_world() -> dict[str, list]:
    """Rows for the fuzzer to find: a customer with an account, a conversation with messages and
    an escalation ticket, an agent to assign. Path parameters and body fields of these names are
    drawn from these values as well as at random."""
    customer = CustomerFactory(external_id="cus_fuzz")
    AccountFactory(customer=customer, number="ACC-FUZZ")
    conversation = ConversationFactory(customer=customer)
    MessageFactory(conversation=conversation, content="Where is my order?")
    MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT, content="Let me check.")
    # With an SLA, as ticket_escalate opens one. (One without, as the admin can leave it, made the
    # escalation endpoint a 500: tests/integrations/test_api.py, the SLA test, until that is fixed.)
    ticket = TicketFactory(conversation=conversation, sla_due_at=timezone.now() + timedelta(hours=8))
    agent = AgentProfileFactory(user=UserFactory(username="fuzz-assignee")).user
    return {
        # Path parameters.
        "id": [conversation.pk, ticket.pk, customer.pk],
        "account_id": ["ACC-FUZZ", "cus_fuzz"],
        "customer_id": ["cus_fuzz"],
        # Body fields.
        "session_id": [str(conversation.public_id), str(conversation.pk)],
        "agent": [agent.username],
        "assignee": [agent.username],
        "conversation": [conversation],
    }


@pytest.fixture
def fuzz_anonymous() -> Principal:
    return Principal()


@pytest.fixture
def fuzz_widget(fuzz_world) -> Principal:
    (conversation,) = fuzz_world["conversation"]
    token = conversation_token_issue(
        conversation_public_id=conversation.public_id, customer_id=conversation.customer_id
    )
    return Principal({"Authorization": f"Conversation {token}"})


@pytest.fixture
def fuzz_agent_session() -> Principal:
    """The console's login session; unsafe methods need the CSRF cookie and header, as the console sends them."""
    login = Client()
    login.force_login(AgentProfileFactory(user=UserFactory(username="fuzz-session-agent")).user)
    csrf = "fuzzcsrf" * 4  # a 32-character secret, sent as cookie and header alike
    return Principal({"X-CSRFToken": csrf}, {"sessionid": login.cookies["sessionid"].value, "csrftoken": csrf})


@pytest.fixture
def fuzz_agent_token() -> Principal:
    user = AgentProfileFactory(user=UserFactory(username="fuzz-token-agent")).user
    return Principal({"Authorization": f"Token {Token.objects.create(user=user).key}"})


@pytest.fixture
def fuzz_integration() -> Principal:
    user = UserFactory(username="fuzz-integration-user")
    user.user_permissions.add(Permission.objects.get(codename="use_api", content_type__app_label="integrations"))
    return Principal({"Authorization": f"Token {Token.objects.create(user=user).key}"})
