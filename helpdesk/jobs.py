"""Queueing Celery tasks after a commit, so that a broker outage costs no request.

The work that queues tasks has already been stored when the transaction commits: a reply, a
ticket, a copilot turn. If Redis is down at that moment, raising would turn a stored reply
into a 500 (and a retry into a duplicate) or a stored answer into a copilot error. The task
runs in this process instead; every task takes ids and is idempotent, so running it here and
again later by a redelivery changes nothing twice.
"""

import logging

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def task_enqueue_on_commit(task: Task, *args, run_here: bool = True) -> None:
    """Queue ``task`` once the transaction commits. ``run_here=False`` is for work that must not
    hold a request (an HTTP call to another system): with the broker down it is only logged,
    and whatever sweeps that work's rows picks it up later."""
    transaction.on_commit(lambda: _task_enqueue(task, args, run_here=run_here), robust=True)


def _task_enqueue(task: Task, args: tuple, *, run_here: bool) -> None:
    try:
        task.delay(*args)
        return
    except Exception:
        where = "running it in this process" if run_here else "it stays for its sweep"
        logger.warning("Could not queue %s%r; %s", task.name, args, where, exc_info=True)
    if not run_here:
        return
    try:
        task.apply(args=args, throw=True)
    except Exception:
        logger.exception("%s%r failed in-process after the broker refused it", task.name, args)
