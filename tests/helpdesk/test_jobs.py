"""Tasks queued after a commit survive a broker that is down (helpdesk/jobs.py)."""

import socket

import pytest
from celery import shared_task

from helpdesk.celery import app
from helpdesk.jobs import task_enqueue_on_commit

pytestmark = pytest.mark.django_db

RUNS: list[int] = []


@shared_task
def record_task(value: int) -> None:
    RUNS.append(value)


@pytest.fixture
def broker_down():
    """A real Redis broker URL on a port nobody listens on, with publishing retries off."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "task_publish_retry")}
    # The app caches its broker connection pools; the test's URL needs fresh ones, and the
    # originals are put back untouched afterwards.
    pools = (app._pool, app.amqp._producer_pool)
    app._pool = app.amqp._producer_pool = None
    app.conf.update(broker_url=f"redis://127.0.0.1:{port}/0", task_always_eager=False, task_publish_retry=False)
    RUNS.clear()
    yield
    app.pool.force_close_all()
    app._pool, app.amqp._producer_pool = pools
    app.conf.update(saved)


def test_the_task_runs_in_process_when_the_broker_refuses_it(broker_down, django_capture_on_commit_callbacks, caplog):
    with django_capture_on_commit_callbacks(execute=True):
        task_enqueue_on_commit(record_task, 7)
    assert RUNS == [7]
    # It ran because the broker refused it, not because tasks run eagerly here.
    assert "Could not queue tests.helpdesk.test_jobs.record_task(7,); running it in this process" in caplog.text


def test_nothing_runs_before_the_commit(django_capture_on_commit_callbacks):
    RUNS.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task_enqueue_on_commit(record_task, 8)
    assert RUNS == []
    assert len(callbacks) == 1


def test_work_that_must_not_hold_a_request_waits_for_its_sweep(broker_down, django_capture_on_commit_callbacks, caplog):
    with django_capture_on_commit_callbacks(execute=True):
        task_enqueue_on_commit(record_task, 9, run_here=False)
    assert RUNS == []
    assert "Could not queue tests.helpdesk.test_jobs.record_task(9,); it stays for its sweep" in caplog.text
