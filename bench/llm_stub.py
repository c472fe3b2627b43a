"""An OpenAI-compatible model stub for load benchmarks: thousands of concurrent streams on one event loop.

Every chat completion waits ``--delay`` (300 ms) after its request arrived; a streamed one then
sends ``--tokens`` (50) content tokens at ``--rate`` (50 tokens/s), each on a schedule fixed from
the arrival time, so a busy stub shows up as lateness in its own statistics instead of silently
stretching every stream. The wire format is the one ``tests/openai_server.py`` emits and the
``openai`` SDK reads: HTTP/1.1 with keep-alive, chunked server-sent ``chat.completion.chunk``
events (a role chunk, content deltas, a ``finish_reason: "stop"`` chunk, a ``choices: []`` usage
chunk when ``stream_options.include_usage`` is set, then ``data: [DONE]``).

The answer quotes the first help-centre passage of the prompt, so the copilot's guards and
quality rules see a grounded answer, as they would from a good model. Its first token is a
whole sentence ("Hello! "): the copilot releases a streamed answer sentence by sentence, and a
long first sentence would add its own writing time to the time to first token.
Structured-output requests (the full profile's analysis and quality calls) get a valid JSON
instance of the requested schema.

``GET /stats`` reports what the stub saw: requests, concurrent streams, and how late the first
token and the last token left compared with their schedule (``?reset=1`` starts afresh,
``?since=T`` counts requests that arrived at or after ``time.monotonic()`` T, which is the same
clock in every process on the machine). ``GET /health`` answers 200.

    .venv/bin/python -m bench.llm_stub --port 8399 [--delay 0.3] [--tokens 50] [--rate 50]
"""

import argparse
import asyncio
import contextlib
import json
import re
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.openai_server import schema_example  # noqa: E402

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024
# The SDK keeps idle pooled connections open; one that says nothing for this long is dropped.
IDLE_SECONDS = 300.0
BODY_SECONDS = 30.0
MAX_REQUESTS_PER_CONNECTION = 100_000
# Per-request records kept for /stats; beyond this only the counters grow.
MAX_RECORDS = 500_000

CHAT_PATH = "/v1/chat/completions"
FIRST_PIECE = "Hello! "
FILLER = (
    "Thank you for your message. I have looked at your question and here is what the help centre says about it. "
    "If anything is still unclear, just write again and a colleague will gladly help you further today."
)
PASSAGE = re.compile(r"^(?:- )?\[(\d+)\] (.+)$", re.MULTILINE)
INTENT_WORDS = {
    "returns": ("return", "vrátit", "reklam", "refund"),
    "shipping": ("parcel", "deliver", "zásilk", "where is", "kde je"),
    "orders": ("order", "objednáv"),
    "billing": ("charged", "payment", "platb", "invoice"),
    "account": ("password", "heslo", "log in", "sign in"),
}


@dataclass
class Record:
    arrival: float
    stream: bool
    schema: str
    first_late_ms: float | None = None
    last_late_ms: float | None = None
    finished: float | None = None
    tokens: int = 0
    outcome: str = "open"


class Stats:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.records: list[Record] = []
        self.dropped_records = 0
        self.active_streams = 0
        self.max_active_streams = 0
        self.active_requests = 0
        self.max_active_requests = 0
        self.connections = 0
        self.max_connections = 0

    def add(self, record: Record) -> None:
        if len(self.records) < MAX_RECORDS:
            self.records.append(record)
        else:
            self.dropped_records += 1

    def reset(self) -> None:
        self.records.clear()
        self.dropped_records = 0
        self.max_active_streams = self.active_streams
        self.max_active_requests = self.active_requests
        self.max_connections = self.connections

    def summary(self, *, since: float = 0.0, raw: bool = False) -> dict:
        chosen = [r for r in self.records if r.arrival >= since]
        firsts = [r.first_late_ms for r in chosen if r.first_late_ms is not None]
        lasts = [r.last_late_ms for r in chosen if r.last_late_ms is not None]
        outcomes: dict[str, int] = {}
        for r in chosen:
            outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
        body = {
            "now": time.monotonic(),
            "requests": len(chosen),
            "streams": sum(r.stream for r in chosen),
            "outcomes": outcomes,
            "tokens": sum(r.tokens for r in chosen),
            "first_token_late_ms": _percentiles(firsts),
            "last_token_late_ms": _percentiles(lasts),
            "active_streams": self.active_streams,
            "max_active_streams": self.max_active_streams,
            "active_requests": self.active_requests,
            "max_active_requests": self.max_active_requests,
            "connections": self.connections,
            "max_connections": self.max_connections,
            "dropped_records": self.dropped_records,
        }
        if chosen:
            span = max(r.arrival for r in chosen) - min(r.arrival for r in chosen)
            body["arrivals_per_s"] = round(len(chosen) / span, 2) if span > 0 else None
        if raw:
            body["records"] = [asdict(r) for r in chosen]
        return body


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 2)

    return {"n": len(ordered), "p50": at(50), "p95": at(95), "p99": at(99), "max": round(ordered[-1], 2)}


def _prompt_text(body: dict) -> str:
    parts = []
    for message in body.get("messages") or []:
        content = message.get("content") or ""
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        parts.append(str(content))
    return "\n".join(parts)


def _user_text(body: dict) -> str:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    return str(users[-1].get("content") or "") if users else ""


def answer_pieces(body: dict, count: int) -> list[str]:
    """``count`` word-sized deltas: a one-sentence greeting, then the first passage of the prompt."""
    prompt = _prompt_text(body)
    words: list[str] = []
    match = PASSAGE.search(prompt)
    if match:
        line = match.group(2)
        # "Title: text" (small profile) or "Title — heading (url)" with the text on the next line (full).
        text = line.split(": ", 1)[1] if ": " in line else prompt[match.end() :].lstrip("\n").split("\n", 1)[0]
        words = text.replace("…", "").split()
    while len(words) < count - 1:
        words += FILLER.split()
    pieces = [FIRST_PIECE] + [word + " " for word in words[: count - 1]]
    pieces[-1] = pieces[-1].rstrip()
    return pieces[:count]


def structured_answer(body: dict) -> str:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object":
        return "{}"
    spec = response_format.get("json_schema") or {}
    name, schema = spec.get("name", ""), spec.get("schema") or {}
    payload = schema_example(schema)
    if name == "quality" and isinstance(payload, dict):
        payload.update(score=9, reasons=[])
    elif name == "analysis" and isinstance(payload, dict):
        labels = ((schema.get("properties") or {}).get("intent") or {}).get("enum") or []
        text = _user_text(body).lower()
        intent = next(
            (label for label, hints in INTENT_WORDS.items() if label in labels and any(h in text for h in hints)),
            "general" if "general" in labels else (labels[0] if labels else "general"),
        )
        payload.update(intent=intent, intent_confidence=0.9, sentiment="neutral", urgency="medium")
        payload["sentiment_score"] = 0.0
    return json.dumps(payload)


class Stub:
    def __init__(self, *, delay: float, tokens: int, rate: float) -> None:
        self.delay = delay
        self.tokens = tokens
        self.interval = 1.0 / rate
        self.stats = Stats()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Without it, Nagle batches the small SSE writes and tokens no longer arrive one by one.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stats = self.stats
        stats.connections += 1
        stats.max_connections = max(stats.max_connections, stats.connections)
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_SECONDS)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                    return
                arrival = time.monotonic()
                method, target, headers = _parse_head(head)
                length = int(headers.get("content-length", "0") or 0)
                if length > MAX_BODY_BYTES:
                    await self._json(writer, 413, {"error": {"message": "body too large"}}, close=True)
                    return
                try:
                    raw = await asyncio.wait_for(reader.readexactly(length), BODY_SECONDS) if length else b""
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                keep = headers.get("connection", "").lower() != "close"
                stats.active_requests += 1
                stats.max_active_requests = max(stats.max_active_requests, stats.active_requests)
                try:
                    await self.route(writer, method, target, raw, arrival)
                finally:
                    stats.active_requests -= 1
                if not keep:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            stats.connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def route(self, writer: asyncio.StreamWriter, method: str, target: str, raw: bytes, arrival: float) -> None:
        url = urlsplit(target)
        if method == "GET" and url.path == "/health":
            await self._json(writer, 200, {"status": "ok"})
            return
        if method == "GET" and url.path == "/stats":
            query = parse_qs(url.query)
            body = self.stats.summary(since=float(query.get("since", ["0"])[0]), raw="raw" in query)
            if "reset" in query:
                self.stats.reset()
            await self._json(writer, 200, body)
            return
        if method == "GET" and url.path == "/v1/models":
            await self._json(writer, 200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
            return
        if method == "POST" and url.path == CHAT_PATH:
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                await self._json(writer, 400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
                return
            await self.chat(writer, body, arrival)
            return
        await self._json(writer, 404, {"error": {"message": f"no route {url.path}", "type": "invalid_request_error"}})

    async def chat(self, writer: asyncio.StreamWriter, body: dict, arrival: float) -> None:
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name", "")
        record = Record(arrival=arrival, stream=bool(body.get("stream")), schema=schema)
        self.stats.add(record)
        meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.get("model")}
        prompt_tokens = len(_prompt_text(body).split())
        try:
            await asyncio.sleep(max(0.0, arrival + self.delay - time.monotonic()))
            if record.stream:
                await self.stream(writer, body, arrival, meta, prompt_tokens, record)
            else:
                content = (
                    structured_answer(body)
                    if body.get("response_format")
                    else "".join(answer_pieces(body, self.tokens))
                )
                record.first_late_ms = (time.monotonic() - arrival - self.delay) * 1000
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split())}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                message = {"role": "assistant", "content": content, "refusal": None}
                choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
                await self._json(
                    writer, 200, {**meta, "object": "chat.completion", "choices": [choice], "usage": usage}
                )
                record.tokens = usage["completion_tokens"]
            record.outcome = "ok"
        except (ConnectionError, OSError):
            record.outcome = "client_gone"
            raise
        finally:
            record.finished = time.monotonic()

    async def stream(
        self, writer: asyncio.StreamWriter, body: dict, arrival: float, meta: dict, prompt_tokens: int, record: Record
    ) -> None:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        pieces = answer_pieces(body, self.tokens)

        def encoded(delta: dict, finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            chunk = {**meta, "object": "chat.completion.chunk", "choices": [choice]}
            if include_usage:
                # The real API sends usage: null on every chunk but the last when usage is requested.
                chunk["usage"] = None
            return json.dumps(chunk)

        def event(delta: dict, finish_reason: str | None = None) -> bytes:
            return _sse(encoded(delta, finish_reason))

        # Content chunks differ only in their text: encode the rest once, with the bytes json.dumps would give.
        marker = "\x00token\x00"
        before, after = encoded({"content": marker}).split(json.dumps(marker), 1)

        def content(piece: str) -> bytes:
            return _sse(before + json.dumps(piece) + after)

        self.stats.active_streams += 1
        self.stats.max_active_streams = max(self.stats.max_active_streams, self.stats.active_streams)
        try:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + event({"role": "assistant", "content": ""}) + content(pieces[0])
            )
            await writer.drain()
            record.first_late_ms = (time.monotonic() - arrival - self.delay) * 1000
            record.tokens = 1
            start = arrival + self.delay
            for index, piece in enumerate(pieces[1:], start=1):
                await asyncio.sleep(max(0.0, start + index * self.interval - time.monotonic()))
                writer.write(content(piece))
                await writer.drain()
                record.tokens += 1
            record.last_late_ms = (time.monotonic() - start - (len(pieces) - 1) * self.interval) * 1000
            tail = event({}, "stop")
            if include_usage:
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces)}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                tail += _sse(json.dumps({**meta, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
            writer.write(tail + _sse("[DONE]") + b"0\r\n\r\n")
            await writer.drain()
        finally:
            self.stats.active_streams -= 1

    async def _json(self, writer: asyncio.StreamWriter, status: int, payload: dict, *, close: bool = False) -> None:
        body = json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}.get(status, "Error")
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "")
            + "\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()


def _sse(data: str) -> bytes:
    """One server-sent event as one HTTP chunk, as the real API and tests/openai_server.py send it."""
    payload = f"data: {data}\n\n".encode()
    return f"{len(payload):X}\r\n".encode() + payload + b"\r\n"


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", "/")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


async def serve(*, host: str, port: int, delay: float, tokens: int, rate: float, ready=None) -> None:
    stub = Stub(delay=delay, tokens=tokens, rate=rate)
    server = await asyncio.start_server(stub.handle, host, port, backlog=4096, limit=MAX_HEADER_BYTES)
    bound = server.sockets[0].getsockname()[1]
    print(f"llm_stub listening on http://{host}:{bound}/v1 (delay {delay}s, {tokens} tokens at {rate}/s)", flush=True)
    if ready is not None:
        ready(bound)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="loopback only unless you mean it")
    parser.add_argument("--port", type=int, default=8399)
    parser.add_argument("--delay", type=float, default=0.3, help="seconds before the first token (default 0.3)")
    parser.add_argument("--tokens", type=int, default=50, help="content tokens per streamed answer (default 50)")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second (default 50)")
    args = parser.parse_args()
    if args.tokens < 1 or args.rate <= 0:
        parser.error("--tokens must be at least 1 and --rate positive")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host=args.host, port=args.port, delay=args.delay, tokens=args.tokens, rate=args.rate))


if __name__ == "__main__":
    main()
