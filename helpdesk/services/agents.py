"""Support agents: accounts and console presence."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db.models import F
from django.utils import timezone

from helpdesk import realtime
from helpdesk.models import AgentProfile


def agent_upsert(
    *, username: str, email: str, display_name: str, password: str, is_staff: bool = False
) -> AbstractUser:
    """Create or update a support agent: a user with an agent profile."""
    user_model = get_user_model()
    first, _, last = display_name.partition(" ")
    user, _ = user_model.objects.update_or_create(
        username=username,
        defaults={"email": email, "first_name": first, "last_name": last, "is_staff": is_staff, "is_active": True},
    )
    user.set_password(password)
    user.save(update_fields=["password"])
    AgentProfile.objects.update_or_create(user=user, defaults={"display_name": display_name})
    return user


def agent_is_eligible(*, user: AbstractUser) -> bool:
    return user.is_active and (user.is_staff or AgentProfile.objects.filter(user=user).exists())


def agent_presence_connect(*, user: AbstractUser) -> None:
    """A console socket opened. Staff without a profile get one, so they show as agents."""
    profile, _ = AgentProfile.objects.get_or_create(
        user=user, defaults={"display_name": user.get_full_name() or user.get_username()}
    )
    AgentProfile.objects.filter(pk=profile.pk).update(
        console_connections=F("console_connections") + 1,
        presence=AgentProfile.Presence.ONLINE,
        last_seen_at=timezone.now(),
    )
    realtime.send_on_commit(realtime.CONSOLE_GROUP, {"type": "presence_changed"})


def agent_presence_disconnect(*, user: AbstractUser) -> None:
    updated = AgentProfile.objects.filter(user=user, console_connections__gt=0).update(
        console_connections=F("console_connections") - 1, last_seen_at=timezone.now()
    )
    if updated:
        AgentProfile.objects.filter(user=user, console_connections=0).update(presence=AgentProfile.Presence.OFFLINE)
    realtime.send_on_commit(realtime.CONSOLE_GROUP, {"type": "presence_changed"})


def agent_presence_heartbeat(*, user: AbstractUser) -> None:
    AgentProfile.objects.filter(user=user).update(last_seen_at=timezone.now())
