import pytest

from tests.integrations.receiver import WebhookReceiver
from tests.servers import serving


@pytest.fixture
def receiver():
    with serving(WebhookReceiver()) as server:
        yield server
