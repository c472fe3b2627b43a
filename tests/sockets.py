"""Helpers for driving the websocket consumers with Channels' communicator."""

from channels.testing import WebsocketCommunicator

TIMEOUT = 10
ORIGIN = (b"origin", b"http://127.0.0.1")


async def chat_open(token: str) -> WebsocketCommunicator:
    """The chat socket of ``token``'s conversation, through the real ASGI application."""
    from helpdesk.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/chat/{token}/", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


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
