"""Frames that used to kill a socket (daphne's 1011) now get an error frame, the socket stays
open, and its cleanup runs on every way out, so the connection gauge comes back down."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from prometheus_client import REGISTRY

from helpdesk.asgi import application
from helpdesk.identity import identity_hash_compute
from helpdesk.models import Message
from helpdesk.services import widget_session_start
from helpdesk.services.retention import customer_erase
from tests.factories import AgentProfileFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
TIMEOUT = 10
DEEP = 5000


@pytest.fixture(autouse=True)
async def close_worker_connections():
    yield
    await sync_to_async(connections.close_all)()


def gauge(kind: str) -> float:
    return REGISTRY.get_sample_value("helpdesk_websocket_connections", {"socket": kind}) or 0.0


async def chat_socket() -> WebsocketCommunicator:
    session = await database_sync_to_async(widget_session_start)()
    communicator = WebsocketCommunicator(application, f"/ws/chat/{session.token}/", headers=[ORIGIN])
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    return communicator


@database_sync_to_async
def agent_cookie(client) -> str:
    user = UserFactory(username="jana")
    AgentProfileFactory(user=user)
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def console_socket(client) -> WebsocketCommunicator:
    cookie = await agent_cookie(client)
    headers = [ORIGIN, (b"host", b"127.0.0.1"), (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "presence"
    return communicator


async def next_not_presence(communicator: WebsocketCommunicator) -> dict:
    """The next frame other than the agents' presence list, which the console sends when it likes."""
    while (frame := await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "presence":
        pass
    return frame


async def still_answers(communicator: WebsocketCommunicator) -> None:
    await communicator.send_json_to({"type": "ping"})
    assert (await next_not_presence(communicator))["type"] == "pong"


BAD_FRAMES = {
    "deep list": ("[" * DEEP + "]" * DEEP, "bad_json"),
    "deep object": ('{"type": "ping", "x": ' + '{"a": ' * 2000 + "1" + "}" * 2000 + "}", "bad_json"),
    "nested past the limit": ('{"type": "ping", "x": ' + "[" * 20 + "]" * 20 + "}", "bad_frame"),
    "lone surrogate in a value": ('{"type": "message", "text": "hi \\ud800 there"}', "bad_frame"),
    "lone surrogate in a key": ('{"type": "message", "\\udfff": 1, "text": "hi"}', "bad_frame"),
    "lone surrogate in the type": ('{"type": "\\ud800"}', "bad_frame"),
    "NUL in the text": ('{"type": "message", "text": "a\\u0000b", "client_id": "n1"}', "bad_frame"),
    "NUL in the client id": ('{"type": "message", "text": "hello", "client_id": "\\u0000"}', "bad_frame"),
}


@pytest.mark.parametrize("frame, code", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
async def test_the_chat_answers_a_bad_frame_with_an_error_and_stays_open(frame, code):
    before = gauge("chat")
    communicator = await chat_socket()
    await communicator.send_to(text_data=frame)
    answer = await communicator.receive_json_from(timeout=TIMEOUT)
    assert answer["type"] == "error"
    assert answer["code"] == code, answer
    # Never taken for a database outage that the widget would retry for ever.
    assert answer["code"] != "unavailable"
    await still_answers(communicator)
    await communicator.disconnect()
    assert gauge("chat") == before
    assert not await database_sync_to_async(Message.objects.exists)()


CONSOLE_BAD_FRAMES = {k: v for k, v in BAD_FRAMES.items() if "text" not in k and "client id" not in k}
CONSOLE_BAD_FRAMES["NUL in the type"] = ('{"type": "watch\\u0000", "conversation": 1}', "bad_frame")


@pytest.mark.parametrize("frame, code", CONSOLE_BAD_FRAMES.values(), ids=CONSOLE_BAD_FRAMES.keys())
async def test_the_console_answers_a_bad_frame_with_an_error_and_stays_open(client, frame, code):
    before = gauge("console")
    communicator = await console_socket(client)
    await communicator.send_to(text_data=frame)
    answer = await next_not_presence(communicator)
    assert (answer["type"], answer.get("code")) == ("error", code), answer
    await still_answers(communicator)
    await communicator.disconnect()
    assert gauge("console") == before


async def test_a_socket_the_server_closes_releases_its_gauge_without_the_clients_disconnect():
    # The erasure closes the socket from the server's side; the client never says goodbye.
    before = gauge("chat")
    customer = await database_sync_to_async(CustomerFactory)(external_id="C-GAUGE")
    session = await database_sync_to_async(widget_session_start)(
        customer_external_id="C-GAUGE", identity_hash=identity_hash_compute(external_id="C-GAUGE")
    )
    communicator = WebsocketCommunicator(application, f"/ws/chat/{session.token}/", headers=[ORIGIN])
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    await still_answers(communicator)
    assert gauge("chat") == before + 1
    await database_sync_to_async(customer_erase)(customer=customer, by=None)
    output = await communicator.receive_output(timeout=TIMEOUT)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.wait(timeout=TIMEOUT)
    assert gauge("chat") == before
