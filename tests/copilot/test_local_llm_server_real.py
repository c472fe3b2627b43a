"""The real thing: llama.cpp (xllamacpp) with the packaged 0.5B model, supervised, asked through the openai SDK.

Slow and CPU-heavy (it loads a 490 MB model and generates on every core it is given), so it is
excluded from `make test`; run it with `pytest -m slow tests/copilot/test_local_llm_server_real.py -s`
to see the load time and the generation speed. No timing assertions: speeds collapse on a busy machine.
"""

import json
import socket
import time
from pathlib import Path

import pytest

from copilot.local_llm.health import local_llm_status_get
from copilot.local_llm.supervisor import LocalLLMSupervisor, local_llm_command_build, port_in_use_check

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / ".data" / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
ALIAS = "qwen2.5-coder-0.5b"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_supervised_real_server_streams_a_chat_answer_to_the_openai_sdk(tmp_path, capfd):
    pytest.importorskip("xllamacpp")
    openai = pytest.importorskip("openai")
    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is not assembled; run `manage.py llm_assemble --model {ALIAS}` first")
    port = free_port()
    status_file = tmp_path / "local-llm.json"
    supervisor = LocalLLMSupervisor(
        command=local_llm_command_build(model=MODEL, port=port, threads=2, ctx=2048, alias=ALIAS),
        port=port,
        status_file=status_file,
        ready_timeout=300,
        stop_timeout=30,
    )
    try:
        supervisor.start()
        health = local_llm_status_get(base_url=f"{supervisor.url}/v1", status_file=status_file, timeout=5.0)
        assert (health["loaded"], health["model"], health["state"], health["restarts"]) == (True, ALIAS, "ready", 0)

        client = openai.OpenAI(base_url=f"{supervisor.url}/v1", api_key="x", max_retries=0, timeout=300)
        asked = time.monotonic()
        first_token_at = None
        parts: list[str] = []
        finish_reason = None
        usage = None
        timings = None
        stream = client.chat.completions.create(
            model=ALIAS,
            messages=[
                {"role": "system", "content": "You are a concise customer-support assistant."},
                {"role": "user", "content": "In one short sentence: how long does a refund usually take?"},
            ],
            max_tokens=64,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            usage = chunk.usage or usage
            timings = (chunk.model_extra or {}).get("timings") or timings
            for choice in chunk.choices:
                if choice.delta is not None and choice.delta.content:
                    first_token_at = first_token_at or time.monotonic()
                    parts.append(choice.delta.content)
                finish_reason = choice.finish_reason or finish_reason
        answered = time.monotonic()
    finally:
        supervisor.stop()

    answer = "".join(parts)
    assert answer.strip()
    assert len(parts) > 1, "the answer should arrive in several streamed chunks"
    assert finish_reason in ("stop", "length")
    # server.py deletes the llama.cpp server and exits 0 on SIGTERM; the port is free again.
    assert supervisor.status.last_exit_code == 0
    assert not port_in_use_check(port=port)

    # The child's single stdout line, for whoever starts it by hand or parses it.
    ready_lines = [line for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    assert len(ready_lines) == 1
    ready = json.loads(ready_lines[0])
    assert (ready["event"], ready["url"], ready["model"]) == ("ready", supervisor.url, ALIAS)

    completion_tokens = usage.completion_tokens if usage is not None else len(parts)
    first_token_seconds = (first_token_at or answered) - asked
    tokens_per_second = max(completion_tokens - 1, 0) / (answered - (first_token_at or asked))
    with capfd.disabled():
        print(
            f"\nlocal LLM {ALIAS}: ready after {supervisor.status.load_seconds:.2f} s "
            f"(llama.cpp load {ready['load_seconds']:.2f} s); first token after {first_token_seconds:.2f} s; "
            f"{completion_tokens} tokens, {tokens_per_second:.1f} tokens/s after the first; "
            f"finish_reason={finish_reason}\nllama.cpp timings: {json.dumps(timings)}\nanswer: {answer!r}"
        )


@pytest.mark.django_db
def test_a_copilot_turn_is_answered_by_the_real_local_model(petr, settings, django_capture_on_commit_callbacks):
    """The whole path `make run LLM=local` takes: pipeline → openai engine (small profile) → llama.cpp."""
    pytest.importorskip("xllamacpp")
    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is not assembled; run `manage.py llm_assemble --model {ALIAS}` first")
    from copilot.models import CopilotTurn
    from copilot.pipeline import turn_run_collect
    from copilot.services import customer_message_receive
    from helpdesk.services import conversation_start

    port = free_port()
    supervisor = LocalLLMSupervisor(
        command=local_llm_command_build(model=MODEL, port=port, threads=2, ctx=4096, alias=ALIAS),
        port=port,
        ready_timeout=300,
        stop_timeout=30,
    )
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.OPENAI_API_KEY = "x"
    settings.COPILOT_MODEL = ALIAS
    settings.COPILOT_LLM_PROFILE = "small"
    settings.COPILOT_MAX_TOKENS = 120
    settings.COPILOT_LLM_TIMEOUT = 300.0
    settings.COPILOT_LLM_RETRIES = 0
    try:
        supervisor.start()
        conversation = conversation_start(customer=petr, language="en")
        message, _ = customer_message_receive(conversation=conversation, content="How do I reset my password?")
        with django_capture_on_commit_callbacks(execute=True):
            events = turn_run_collect(message_id=message.pk, engine="openai", delivery="stream")
    finally:
        supervisor.stop()

    turn = CopilotTurn.objects.get(customer_message=message)
    answer = next(event for event in events if event.type == "message").text
    assert turn.fallback == "", turn.fallback
    assert (turn.engine, turn.model, turn.llm_calls) == ("openai", ALIAS, 1)
    assert turn.completion_tokens > 0 and turn.first_token_ms is not None
    assert answer.strip()
    print(f"\ncopilot turn on {ALIAS}: first token {turn.first_token_ms} ms, total {turn.total_ms} ms\n{answer}")
