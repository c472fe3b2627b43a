"""The demo's month of past conversations: real turns, dated back, made once."""

from datetime import timedelta

from django.utils import timezone

from copilot.models import CopilotTurn
from helpdesk.demo_history import SUBJECT_PREFIX, demo_history_seed
from helpdesk.models import Conversation, Message


def test_past_days_get_real_turns_dated_back_once(shop):
    made = demo_history_seed(days=2)
    assert 4 <= made <= 20
    history = Conversation.objects.filter(subject__startswith=SUBJECT_PREFIX)
    assert history.count() == made
    today = timezone.localdate()
    days = {timezone.localtime(conversation.created_at).date() for conversation in history}
    assert days == {today - timedelta(days=2), today - timedelta(days=1)}
    for conversation in history:
        turn = CopilotTurn.objects.get(conversation=conversation)
        first = conversation.messages.order_by("created_at").first()
        assert first.role == Message.Role.CUSTOMER
        assert first.created_at == conversation.created_at
        # The copilot's answer keeps its real delay after the question.
        assert timedelta(0) <= turn.reply.created_at - first.created_at < timedelta(seconds=30)
        if conversation.resolved_at:
            assert conversation.resolved_at > conversation.created_at
    assert demo_history_seed(days=2) == 0
