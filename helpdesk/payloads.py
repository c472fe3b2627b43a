"""The JSON shapes of messages and conversations on the websockets (see docs/live-chat.md).

Plain functions of already-loaded rows: they never query, so a service can build a frame
inside its transaction at no cost.
"""

from django.contrib.auth.models import AbstractBaseUser

from helpdesk.models import Conversation, Message


def agent_name(user: AbstractBaseUser | None) -> str:
    """Agents are created with their display name as first and last name (``agent_upsert``)."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def citations_payload(citations: list, *, with_heading: bool = False) -> list[dict]:
    """Numbered sources as stored on a reply or a turn (``Source.citation()``)."""
    rows = []
    for citation in citations:
        if isinstance(citation, dict):
            row = {"n": citation.get("n"), "title": citation.get("title", ""), "url": citation.get("url", "")}
            if with_heading:
                row["heading"] = citation.get("heading", "")
            rows.append(row)
    return rows


def message_payload(message: Message) -> dict:
    metadata = message.metadata or {}
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "role": message.role,
        "content": message.content,
        "author": agent_name(message.author) if message.author_id else "",
        "created_at": message.created_at.isoformat(),
        "citations": citations_payload(metadata.get("citations", [])),
        "client_id": message.client_message_id,
        "offer_human": bool(metadata.get("offer_human")),
    }


def conversation_public_payload(conversation: Conversation) -> dict:
    """What the customer may know about their conversation."""
    agent = conversation.assigned_agent if conversation.status == Conversation.Status.HUMAN else None
    return {
        "id": str(conversation.public_id),
        "status": conversation.status,
        "language": conversation.language,
        "agent": {"name": agent_name(agent)} if agent else None,
        "csat": conversation.csat or None,
    }


def conversation_summary_payload(conversation: Conversation) -> dict:
    """One row of the agents' queue; ``conversation`` comes from ``selectors.conversation_queue``."""
    customer = conversation.customer
    agent = conversation.assigned_agent
    ticket_id = getattr(conversation, "ticket_id", None)
    return {
        "id": conversation.pk,
        "public_id": str(conversation.public_id),
        "status": conversation.status,
        "channel": conversation.channel,
        "language": conversation.language,
        "customer": {
            "id": customer.pk,
            "external_id": customer.external_id,
            "name": customer.name,
            "tier": customer.tier,
        }
        if customer
        else None,
        "subject": conversation.subject,
        "last_message": (getattr(conversation, "last_message", "") or "")[:200],
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else None,
        "ticket": {
            "id": ticket_id,
            "reference": f"{'ESC' if conversation.ticket_kind == 'escalation' else 'REQ'}-{ticket_id:06d}",
            "priority": conversation.ticket_priority,
            "status": conversation.ticket_status,
        }
        if ticket_id
        else None,
        "assigned_agent": {"username": agent.get_username(), "name": agent_name(agent)} if agent else None,
        "intent": getattr(conversation, "intent", None) or "",
        "sentiment": getattr(conversation, "sentiment", None) or "",
        "csat": conversation.csat or None,
    }
