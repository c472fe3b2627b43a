from celery import shared_task

from copilot.services import turn_follow_up
from helpdesk.logs import log_context_bind


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def turn_follow_up_task(turn_id: int) -> None:
    with log_context_bind(turn_id=turn_id):
        turn_follow_up(turn_id=turn_id)
