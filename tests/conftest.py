import pytest

from tests.crm_server import CrmServer
from tests.factories import StaffFactory
from tests.openai_server import OpenAIStub
from tests.servers import serving


@pytest.fixture(autouse=True)
def keep_test_connection(monkeypatch):
    """Keep the test's connection open across ``database_sync_to_async`` calls.

    Channels closes "old" connections around each call, and a connection inside the
    test's transaction looks old (autocommit is off), so the test would lose its
    transaction. Django's test client avoids the same trap by disconnecting its
    ``close_old_connections`` signal handler.
    """
    import channels.db

    monkeypatch.setattr(channels.db, "close_old_connections", lambda: None)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Throttles and rate limits count in the cache; one test's requests must not spend another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory(username="staff"))
    return client


@pytest.fixture
def openai_server():
    """A real HTTP server speaking the OpenAI wire protocol on a free loopback port."""
    with serving(OpenAIStub()) as server:
        yield server


@pytest.fixture
def remote_crm(settings):
    """CRM_BACKEND=http against a real REST CRM on a free loopback port (tests/crm_server.py)."""
    from crm import remote

    with serving(CrmServer()) as server:
        settings.CRM_BACKEND = "http"
        settings.CRM_API_URL = server.url
        settings.CRM_TIMEOUT = 0.5
        settings.CRM_RETRIES = 1
        remote.BREAKER.success()
        yield server
        remote.BREAKER.success()
