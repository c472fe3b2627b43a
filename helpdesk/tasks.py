"""Celery tasks of the helpdesk: thin wrappers that re-fetch by id and call one service."""

from smtplib import SMTPException

from celery import shared_task

from helpdesk.services.follow_up import agent_reply_email_send, follow_up_acknowledgement_send
from helpdesk.services.retention import conversations_purge_scheduled

# A mail server that is down or refuses for a while is retried with backoff.
RETRY = {"autoretry_for": (SMTPException, OSError), "retry_backoff": True, "max_retries": 6}


@shared_task(**RETRY)
def follow_up_acknowledgement_task(ticket_id: int) -> bool:
    return follow_up_acknowledgement_send(ticket_id=ticket_id)


@shared_task(**RETRY)
def agent_reply_email_task(message_id: int) -> bool:
    return agent_reply_email_send(message_id=message_id)


@shared_task
def conversations_purge_task() -> int:
    return conversations_purge_scheduled()
