"""The audit log of agents' and admins' actions (docs/privacy.md)."""

from django.contrib.auth.models import AbstractUser

from helpdesk.models import AuditEntry


def audit_record(
    *,
    actor: AbstractUser | None,
    action: str,
    conversation_id: int | None = None,
    customer_id: int | None = None,
    detail: dict | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=actor.get_username() if actor is not None and actor.is_authenticated else "",
        action=action,
        conversation_id=conversation_id,
        customer_id=customer_id,
        detail=detail or {},
    )
