import threading

import pytest

from tests.factories import StaffFactory
from tests.openai_server import OpenAIStub


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory(username="staff"))
    return client


@pytest.fixture
def openai_server():
    """A real HTTP server speaking the OpenAI wire protocol on a free loopback port."""
    server = OpenAIStub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
