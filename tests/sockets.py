"""Helpers for driving the websocket consumers with Channels' communicator."""

from channels.testing import WebsocketCommunicator

TIMEOUT = 10


async def frames_until(
    communicator: WebsocketCommunicator, kind: str, *, limit: int = 300, timeout: float = TIMEOUT
) -> list[dict]:
    """Every frame up to and including the first of type ``kind``."""
    seen = []
    for _ in range(limit):
        frame = await communicator.receive_json_from(timeout=timeout)
        seen.append(frame)
        if frame["type"] == kind:
            return seen
    raise AssertionError(f"no {kind!r} frame in {seen}")
