"""The chat socket through the real server (daphne): what the WebSocket protocol itself refuses
closes with its own codes, 1009 for a message too big and 1007 for text that is not UTF-8;
everything the application can read gets an error frame and the socket stays open. Every
socket that ends, either way, leaves the connection gauge in /metrics."""

import json
import re
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = pytest.mark.e2e

# daphne's --websocket-max-message-size default: past it the server closes with 1009.
SERVER_MAX_MESSAGE = 1024 * 1024


def chat_url(base: str) -> str:
    started = httpx.post(f"{base}/api/widget/conversations", json={}, timeout=10)
    assert started.status_code == 201, started.text
    return base.replace("http://", "ws://") + f"/ws/chat/{started.json()['token']}/"


def open_chat(base: str):
    return connect(chat_url(base), origin=base, open_timeout=10, close_timeout=5)


def frame(socket) -> dict:
    return json.loads(socket.recv(timeout=10))


def pong(socket) -> None:
    socket.send(json.dumps({"type": "ping"}))
    while (answer := frame(socket))["type"] != "pong":
        assert answer["type"] != "error", answer


def chat_gauge(base: str) -> float:
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    match = re.search(r'^helpdesk_websocket_connections\{[^}]*socket="chat"[^}]*\} (\S+)$', metrics, re.M)
    return float(match.group(1)) if match else 0.0


def closed_code(socket) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(10):
            socket.recv(timeout=10)
    return closed.value.rcvd.code


def test_a_message_past_the_servers_limit_closes_with_1009(live_server_url):
    with open_chat(live_server_url) as socket:
        pong(socket)
        socket.send(json.dumps({"type": "message", "text": "x" * SERVER_MAX_MESSAGE}))
        assert closed_code(socket) == 1009


def test_text_that_is_not_utf8_closes_with_1007(live_server_url):
    with open_chat(live_server_url) as socket:
        pong(socket)
        socket.send(b'{"type": "message", "text": "\xff\xfe"}', text=True)
        assert closed_code(socket) == 1007


def test_frames_the_application_can_read_get_an_error_and_the_socket_stays(live_server_url):
    before = chat_gauge(live_server_url)
    with open_chat(live_server_url) as socket:
        pong(socket)
        for bad, code in [
            ("[" * 5000 + "]" * 5000, "bad_json"),
            ('{"type": "message", "text": "\\ud800"}', "bad_frame"),
            ('{"type": "message", "text": "a\\u0000b"}', "bad_frame"),
            (json.dumps({"type": "message", "text": "y" * 20_000}), "too_long"),
            ("not json", "bad_json"),
        ]:
            socket.send(bad)
            answer = frame(socket)
            assert (answer["type"], answer["code"]) == ("error", code), (bad[:40], answer)
            pong(socket)
        socket.send(b"\x00\x01binary")
        assert frame(socket)["code"] == "bad_frame"
        pong(socket)
    # The sockets of this module, closed by the client or by the server, have all left the gauge.
    deadline = time.monotonic() + 10
    while chat_gauge(live_server_url) > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert chat_gauge(live_server_url) <= before
