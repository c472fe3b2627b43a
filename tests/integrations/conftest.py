import threading

import pytest

from tests.integrations.receiver import WebhookReceiver


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
