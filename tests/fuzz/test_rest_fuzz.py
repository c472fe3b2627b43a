"""Every operation of the REST API's own schema (/api/schema/, drf-spectacular), fuzzed by
schemathesis in-process through the WSGI app, as each kind of principal. A test fails on any 5xx
and on any answer the schema does not describe (status code, content type, body, headers).

The budget is fixed so the run is the same everywhere and quick: FUZZ_EXAMPLES generated cases
per operation and principal from a fixed seed (derandomized), plus schemathesis' deterministic
coverage cases (boundaries and invalid values for each parameter). The counts are printed at the
end of the pytest run (tests/fuzz/conftest.py) for quoting.
"""

import time

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ_STATS, Principal

FUZZ_EXAMPLES = 25
FUZZ_SEED = 20261207
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": FUZZ_SEED,
        "generation": {
            "max-examples": FUZZ_EXAMPLES,
            "deterministic": True,
            # Nothing read or written under .hypothesis/: the same cases on every machine.
            "database": "none",
            "mode": "all",
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    }
)

APP = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/schema/", APP, config=CONFIG)

# The rows of the running test (see ``fuzz_world``): path ids are drawn from them as well as
# at random, so the fuzzer reaches past "404 not found" into the views.
WORLD: dict[str, object] = {}


@pytest.fixture(autouse=True)
def connection_kept():
    """Requests go through the real WSGI handler, whose request signals close "old" database
    connections, and the test's connection, inside its transaction, looks old. Django's own test
    client unhooks the same handler around each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def world_known(fuzz_world):
    # Set before the test runs: Hypothesis draws the cases inside it.
    WORLD.clear()
    WORLD.update(fuzz_world)
    yield
    WORLD.clear()


@schema.hook
def flatmap_path_parameters(context, path_parameters: dict):
    names = [name for name in path_parameters or {} if name in WORLD]
    if not names:
        return st.just(path_parameters)
    known = st.fixed_dictionaries({name: st.sampled_from(WORLD[name]) for name in names})
    return st.one_of(st.just(path_parameters), known.map(lambda values: {**path_parameters, **values}))


@schema.hook
def flatmap_body(context, body):
    # A random customer id or username names nobody; known ones reach the services behind the 404.
    names = [name for name in body if name in WORLD] if isinstance(body, dict) else []
    if not names:
        return st.just(body)
    known = st.fixed_dictionaries({name: st.sampled_from(WORLD[name]) for name in names})
    return st.one_of(st.just(body), known.map(lambda values: {**body, **values}))


@schema.hook
def after_call(context, case, response):
    FUZZ_STATS.record(operation=case.operation.label, status=response.status_code)


def _fuzz(principal_name: str):
    def test(case, request):
        principal: Principal = request.getfixturevalue(f"fuzz_{principal_name}")
        # Throttles count per client; a fixed budget of requests must not turn into 429s.
        cache.clear()
        FUZZ_STATS.principal(principal_name, case.operation.label)
        started = time.monotonic()
        try:
            case.call_and_validate(headers=principal.headers, cookies=principal.cookies)
        finally:
            FUZZ_STATS.spent(time.monotonic() - started)

    test.__name__ = f"test_rest_fuzz_as_{principal_name}"
    return pytest.mark.django_db(schema.parametrize()(test))


test_rest_fuzz_as_anonymous = _fuzz("anonymous")
test_rest_fuzz_as_widget = _fuzz("widget")
test_rest_fuzz_as_agent_session = _fuzz("agent_session")
test_rest_fuzz_as_agent_token = _fuzz("agent_token")
test_rest_fuzz_as_integration = _fuzz("integration")
