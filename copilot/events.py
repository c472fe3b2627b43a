"""What a copilot turn tells its caller, in order. The websocket layer forwards these as they are."""

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class StatusEvent:
    """Progress the customer can see, e.g. "Searching the help centre"."""

    code: str
    text: str
    type: str = "status"


@dataclass(frozen=True)
class TokenEvent:
    delta: str
    type: str = "token"


@dataclass(frozen=True)
class MessageEvent:
    """The final answer as stored: the text the customer sees, with its sources."""

    message_id: int
    text: str
    citations: list[dict] = field(default_factory=list)
    turn_id: int | None = None
    offer_human: bool = False
    type: str = "message"


@dataclass(frozen=True)
class EscalatedEvent:
    ticket_id: int
    ticket_reference: str
    reasons: list[str]
    priority: str
    type: str = "escalated"


Event = StatusEvent | TokenEvent | MessageEvent | EscalatedEvent


def event_as_dict(event: Event) -> dict:
    return asdict(event)
