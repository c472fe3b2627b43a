"""Who may open a websocket: the console only from the site's own origin (scheme, host and port),
and no handshake whose headers carry what the session lookup cannot take."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections

from helpdesk.asgi import application
from tests.factories import AgentProfileFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


@pytest.fixture(autouse=True)
async def close_worker_connections():
    yield
    await sync_to_async(connections.close_all)()


@database_sync_to_async
def agent_session(client) -> tuple:
    user = UserFactory(username="jana")
    AgentProfileFactory(user=user)
    client.force_login(user)
    return user, client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.mark.parametrize(
    "origin, host, opens",
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://LOCALHOST:8000", "localhost:8000", True),
        ("http://127.0.0.1", "127.0.0.1:80", True),
        # Another port of the same host is another origin: any local page could ride on the cookie.
        ("http://127.0.0.1:9999", "127.0.0.1:8000", False),
        ("https://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("http://localhost:8000", "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000", "", False),
        ("http://127.0.0.1:8000", "evil.example:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("http://127.0.0.1:99999", "127.0.0.1:99999", False),
    ],
)
async def test_only_the_sites_own_origin_opens_the_console(client, origin, host, opens):
    _, cookie = await agent_session(client)
    headers = [(b"origin", origin.encode()), (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]
    if host:
        headers.append((b"host", host.encode()))
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected is opens
    if opens:
        assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "presence"
        await communicator.disconnect()


async def test_behind_the_tls_proxy_the_console_wants_the_https_origin(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    _, cookie = await agent_session(client)
    results = {}
    for origin in ("https://127.0.0.1:8000", "http://127.0.0.1:8000"):
        headers = [
            (b"origin", origin.encode()),
            (b"host", b"127.0.0.1:8000"),
            (b"x-forwarded-proto", b"https"),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ]
        communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
        results[origin], _ = await communicator.connect(timeout=TIMEOUT)
        await communicator.disconnect()
    assert results == {"https://127.0.0.1:8000": True, "http://127.0.0.1:8000": False}


@pytest.mark.parametrize(
    "origin, opens",
    [
        ("https://console.support.example", True),
        ("https://eu.console.support.example", True),
        ("http://console.support.example", False),
        ("https://support.example.evil", False),
    ],
)
async def test_a_wildcard_trusted_origin_opens_the_console_as_djangos_csrf_check_reads_it(
    client, settings, origin, opens
):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.support.example"]
    _, cookie = await agent_session(client)
    headers = [
        (b"origin", origin.encode()),
        (b"host", b"127.0.0.1:8000"),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected is opens
    await communicator.disconnect()


@pytest.mark.parametrize("path", ["/ws/console/", "/ws/chat/x/"])
@pytest.mark.parametrize(
    "header",
    [
        (b"cookie", b'sessionid="abc\\000def"'),
        (b"cookie", b"sessionid=abc\x00def"),
        (b"user-agent", b"evil\x00agent"),
    ],
)
async def test_a_handshake_with_a_nul_in_a_header_is_refused_not_crashed(path, header):
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), header]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    # Refused at the handshake (daphne answers 403), not an exception inside the session lookup.
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected is False
