"""A local OpenAI-compatible HTTP server for tests: the real wire protocol, on loopback.

Routes:

- ``POST /v1/embeddings``: deterministic unit vectors (hash-seeded per input text).
- ``POST /v1/chat/completions``: a ``chat.completion`` object, or with ``"stream": true``
  server-sent ``chat.completion.chunk`` events (role chunk, word-sized content deltas,
  a ``finish_reason: "stop"`` chunk, a ``choices: []`` usage chunk when
  ``stream_options.include_usage`` is set, then ``data: [DONE]``). Responses are HTTP/1.1;
  streams use chunked transfer encoding like the real API, so a dropped connection is
  distinguishable from a finished body.

The reply text comes from, in order: ``server.chat_replies`` (a FIFO deque, popped per
request), ``server.chat_handler(body) -> str``, or a default: a minimal valid instance of the
requested schema (``schema_example``) for ``response_format.type == "json_schema"``, ``"{}"``
for ``"json_object"``, else ``DEFAULT_REPLY``. Token counts in ``usage`` are whitespace-split
words. ``server.requests`` records every request as ``{"path", "body", "received_at"}`` (a
``time.time()`` stamp taken before any injected delay or fault).

Faults tests can inject (``server.heal()`` disarms them all and zeroes the delays):

- ``server.fail_next(status=500, times=2)``: any route answers with a JSON error body.
- ``server.delay = 2.0``: seconds slept before answering any request.
- ``server.token_delay = 0.05``: seconds slept between streamed chunks.
- ``server.error_event_next(times=1)``: a stream sends the role chunk and one content chunk,
  then an event whose data is ``{"error": {...}}`` (how servers report a failure mid-stream),
  then ends. It waits for a streaming request.
- ``server.sse_variants = True``: streams use the rest of the SSE format, as some servers do: a
  comment line (``: keep-alive``) and an ``event:`` line before events, and each event's JSON
  split over two ``data:`` lines.
- ``server.malformed_next(times=1)``: a stream sends the role chunk, one content chunk, then
  a complete SSE event whose data is truncated JSON, then ends normally. A non-streaming
  request gets a 200 with a truncated JSON body. With ``streams_only=True`` it waits for a
  streaming request (the answer, not the analysis call before it).
- ``server.disconnect_next(times=1)``: a stream sends the role chunk and two content chunks,
  then closes the socket mid-body (no ``[DONE]``, no terminating HTTP chunk).
- ``server.stall_next(after_chunks=2, seconds=5.0, times=1)``: a stream sends the role chunk
  and ``after_chunks`` content chunks, then goes silent for ``seconds`` with the connection
  held open (a model server that hangs mid-answer), then sends the rest as usual if the client
  is still there. Closing the server ends a stall early. Like ``disconnect_next``, it waits for
  a streaming request; malformed and disconnect win over it when both are armed.

What the ``openai`` SDK (3.54, httpx2 transport, ``AsyncOpenAI``) does with them, which the
copilot engine relies on (pinned by ``tests/test_openai_server.py``):

- malformed stream: the valid chunks are yielded, then iterating raises a bare
  ``json.JSONDecodeError`` (a ``ValueError``), *not* an ``openai.APIError``; the SDK calls
  ``json.loads`` on each event's data without wrapping it.
- malformed non-streaming body: ``create()`` raises ``json.JSONDecodeError`` too.
- (not injected, found while building this) a corrupt ``data:`` line that is never terminated by
  a blank line is silently dropped and iteration just ends, with no chunk carrying a
  ``finish_reason``; so the engine should treat "no ``finish_reason`` seen" as a failure.
- disconnected stream: the chunks sent are yielded, then iterating raises
  ``openai.APIConnectionError`` (not its ``APITimeoutError`` subclass), caused by
  ``httpx2.RemoteProtocolError`` (incomplete chunked read). Retries do not apply mid-stream.
- ``token_delay`` longer than the client timeout: iterating raises ``openai.APITimeoutError``.
- stalled stream, stall longer than the client timeout: the chunks sent before the stall are
  yielded, then iterating raises ``openai.APITimeoutError`` (an ``APIConnectionError`` subclass)
  about one timeout after the last chunk, not when the server gives up; the timeout is per read,
  not for the whole answer. A stall shorter than the timeout only delays the answer.
"""

import collections
import hashlib
import itertools
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

DEFAULT_REPLY = "This is a reply from the local test server."

CHAT_PATH = "/v1/chat/completions"

# Cut mid-value so no JSON parser can accept it, however lenient about trailing data.
TRUNCATED_JSON = '{"choices": [{"delta": '


def fake_embedding(text: str, dimensions: int) -> list[float]:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    vector = np.random.default_rng(seed).standard_normal(dimensions)
    return (vector / np.linalg.norm(vector)).tolist()


def schema_example(schema: dict) -> object:
    """A minimal instance that validates against ``schema`` (the subset structured outputs use)."""
    return _example(schema, schema)


def _resolve(ref: str, root: dict) -> dict:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _example(schema: dict, root: dict) -> object:
    if "$ref" in schema:
        return _example(_resolve(schema["$ref"], root), root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _example(schema[key][0], root)
    if "allOf" in schema:
        merged: dict = {}
        properties: dict = {}
        for part in schema["allOf"]:
            part = _resolve(part["$ref"], root) if "$ref" in part else part
            merged.update(part)
            properties.update(part.get("properties", {}))
        if properties:
            merged["properties"] = properties
        return _example(merged, root)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else None

    if kind == "object":
        return {name: _example(sub, root) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema.get("items", {}), root) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * schema.get("minLength", 0)
    if kind in ("integer", "number"):
        if "minimum" in schema:
            return schema["minimum"]
        if "exclusiveMinimum" in schema:
            return schema["exclusiveMinimum"] + 1
        if "maximum" in schema and schema["maximum"] < 0:
            return schema["maximum"]
        return 0
    if kind == "boolean":
        return False
    return None


def _words(text: str) -> int:
    return len(text.split())


def _prompt_tokens(messages: list[dict]) -> int:
    total = 0
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        total += _words(content)
    return total


class OpenAIStub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.delay = 0.0
        self.token_delay = 0.0
        self.sse_variants = False
        self.dimensions_override: int | None = None
        self.chat_replies: collections.deque[str] = collections.deque()
        self.chat_handler: Callable[[dict], str] | None = None
        self._failures: list[int] = []
        self._malformed = 0
        self._malformed_streams = 0
        self._disconnects = 0
        self._error_events = 0
        self._stalls: list[tuple[int, float]] = []
        self._closing = threading.Event()
        # The threads that served this server's connections (the stdlib keeps none for daemon threads).
        self.handler_threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def serve_forever(self, poll_interval: float = 0.02) -> None:
        # shutdown() blocks until the next poll, so the stdlib's 0.5 s default adds that much to every test's teardown.
        super().serve_forever(poll_interval)

    def process_request_thread(self, request, client_address) -> None:
        with self._lock:
            self.handler_threads.append(threading.current_thread())
        super().process_request_thread(request, client_address)

    def server_close(self) -> None:
        # A stalled answer must not outlive the test that armed it.
        self._closing.set()
        super().server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["path"] == CHAT_PATH]

    def fail_next(self, *, status: int, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([status] * times)

    def malformed_next(self, times: int = 1, *, streams_only: bool = False) -> None:
        with self._lock:
            if streams_only:
                self._malformed_streams += times
            else:
                self._malformed += times

    def heal(self) -> None:
        """Disarm every injected fault: from now on the server answers promptly and well."""
        with self._lock:
            self._failures.clear()
            self._malformed = self._malformed_streams = self._disconnects = self._error_events = 0
            self._stalls.clear()
        self.delay = self.token_delay = 0.0
        self.sse_variants = False

    def disconnect_next(self, times: int = 1) -> None:
        with self._lock:
            self._disconnects += times

    def error_event_next(self, times: int = 1) -> None:
        with self._lock:
            self._error_events += times

    def take_error_event(self) -> bool:
        with self._lock:
            if self._error_events:
                self._error_events -= 1
                return True
            return False

    def stall_next(self, *, after_chunks: int = 2, seconds: float = 5.0, times: int = 1) -> None:
        with self._lock:
            self._stalls.extend([(after_chunks, seconds)] * times)

    def take_stall(self) -> tuple[int, float] | None:
        with self._lock:
            return self._stalls.pop(0) if self._stalls else None

    def stall(self, seconds: float) -> None:
        self._closing.wait(seconds)

    def take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def take_malformed(self, *, stream: bool) -> bool:
        with self._lock:
            if stream and self._malformed_streams:
                self._malformed_streams -= 1
                return True
            if self._malformed:
                self._malformed -= 1
                return True
            return False

    def take_disconnect(self) -> bool:
        with self._lock:
            if self._disconnects:
                self._disconnects -= 1
                return True
            return False

    def record(self, path: str, body: dict) -> None:
        with self._lock:
            self.requests.append({"path": path, "body": body, "received_at": time.time()})

    def reply_for(self, body: dict) -> str:
        with self._lock:
            queued = self.chat_replies.popleft() if self.chat_replies else None
        if queued is not None:
            return queued
        if self.chat_handler is not None:
            return self.chat_handler(body)
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            return json.dumps(schema_example(response_format["json_schema"]["schema"]))
        if response_format.get("type") == "json_object":
            return "{}"
        return DEFAULT_REPLY

    def handle_error(self, request, client_address) -> None:
        # Clients that time out or hang up mid-answer are expected in fault tests; keep pytest output clean.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIStub
    # Chunked streaming needs HTTP/1.1; keep-alive also matches what the SDK's pool expects.
    protocol_version = "HTTP/1.1"
    # Without this, Nagle batches the small SSE writes and the client no longer sees tokens one by one.
    disable_nagle_algorithm = True

    def log_message(self, format, *args) -> None:  # noqa: A002 (the stdlib's signature)
        pass

    def _json(self, status: int, payload: dict) -> None:
        self._raw(status, json.dumps(payload).encode())

    def _raw(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.record(self.path, {})
        if self.path == "/v1/models":
            model = {"id": "stub-model", "object": "model", "created": 0, "owned_by": "tests"}
            self._json(200, {"object": "list", "data": [model]})
            return
        self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length) or b"{}")
        self.server.record(self.path, payload)
        if self.server.delay:
            time.sleep(self.server.delay)
        if (status := self.server.take_failure()) is not None:
            self._json(status, {"error": {"message": f"injected {status}", "type": "server_error"}})
            return
        if self.path == "/v1/embeddings":
            inputs = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
            dims = self.server.dimensions_override or payload.get("dimensions", 1536)
            data = [
                {"object": "embedding", "index": i, "embedding": fake_embedding(text, dims)}
                for i, text in enumerate(inputs)
            ]
            self._json(200, {"object": "list", "data": data, "model": payload["model"], "usage": {}})
            return
        if self.path == CHAT_PATH:
            self._chat(payload)
            return
        self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def _chat(self, payload: dict) -> None:
        try:
            reply = self.server.reply_for(payload)
        except Exception as exc:
            # A broken chat_handler should fail its test loudly, not hang the client on a dead socket.
            self._json(500, {"error": {"message": f"chat_handler raised {exc!r}", "type": "server_error"}})
            return
        usage = {
            "prompt_tokens": _prompt_tokens(payload.get("messages", [])),
            "completion_tokens": _words(reply),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": payload.get("model")}
        if payload.get("stream"):
            self._stream(payload, reply, usage, meta)
            return
        if self.server.take_malformed(stream=False):
            self._raw(200, TRUNCATED_JSON.encode())
            return
        message = {"role": "assistant", "content": reply, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        self._json(200, {**meta, "object": "chat.completion", "choices": [choice], "usage": usage})

    def _stream(self, payload: dict, reply: str, usage: dict, meta: dict) -> None:
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        malformed = self.server.take_malformed(stream=True)
        disconnect = not malformed and self.server.take_disconnect()
        stall = None if malformed or disconnect else self.server.take_stall()

        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            body = {**meta, "object": "chat.completion.chunk", "choices": [choice]}
            if include_usage:
                # The real API sends usage: null on every chunk but the last when usage is requested.
                body["usage"] = None
            return body

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        pieces = re.findall(r"\S+\s*|\s+", reply)
        first = itertools.count()

        def send(data: str) -> None:
            if next(first) and self.server.token_delay:
                time.sleep(self.server.token_delay)
            if self.server.sse_variants and data.startswith("{"):
                # Two data lines join with a newline, which is whitespace inside JSON.
                head, tail = data.split(",", 1)
                self._write_chunk(f": keep-alive\n\nevent: message\ndata: {head},\ndata:{tail}\n\n".encode())
                return
            self._write_chunk(f"data: {data}\n\n".encode())

        send(json.dumps(chunk({"role": "assistant", "content": ""})))
        if not (malformed or disconnect) and self.server.take_error_event():
            send(json.dumps(chunk({"content": pieces[0]})))
            send(json.dumps({"error": {"message": "The server is overloaded.", "type": "server_error"}}))
            self._end_chunks()
            return
        if malformed:
            for piece in pieces[:1]:
                send(json.dumps(chunk({"content": piece})))
            send(TRUNCATED_JSON)
            self._end_chunks()
            return
        if disconnect:
            for piece in pieces[:2]:
                send(json.dumps(chunk({"content": piece})))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        for number, piece in enumerate(pieces):
            if stall is not None and number == stall[0]:
                self.server.stall(stall[1])
            send(json.dumps(chunk({"content": piece})))
        if stall is not None and len(pieces) <= stall[0]:
            self.server.stall(stall[1])
        send(json.dumps(chunk({}, "stop")))
        if include_usage:
            send(json.dumps({**meta, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        send("[DONE]")
        self._end_chunks()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
