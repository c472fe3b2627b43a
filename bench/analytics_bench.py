"""The analytics page's figures at a year of a busy helpdesk: how long ``analytics_get`` takes.

    .venv/bin/python bench/analytics_bench.py [--sizes 100000,1000000] [--runs 5] [--keep] [--reuse]

Target: the default 30-day range in at most 1 s (median) at 1,000,000 conversations a year (2,740 a day,
a support team of about 50), and a whole year in at most 10 s; the page runs the figures on every
load. Runs in a scratch database (``bench_analytics``) that is dropped at the end.

The year is generated in SQL, shaped like the demo's history: every conversation has the
customer's question and the bot's answer 1-8 s later and a copilot turn; one in five is
escalated (a ticket, one of 50 agents assigned, their reply 2-40 minutes later); seven in ten are
resolved; three in ten are rated, three quarters of those up. Each size adds to the previous one.
"""

import argparse
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_attach, scratch_django, scratch_drop  # noqa: E402

DB_NAME = "bench_analytics"
TARGET_30_DAYS_S = 1.0
TARGET_YEAR_S = 10.0
# Agents the escalated conversations are assigned to, at random.
TEAM = 50
# Rows generated per statement: bounds each statement's memory and shows progress.
CHUNK = 100_000

CONVERSATIONS = """
INSERT INTO helpdesk_conversation (public_id, channel, status, language, subject, created_at, updated_at,
                                   csat, csat_comment, contact_email, resolved_at, assigned_agent_id,
                                   last_message_at)
SELECT gen_random_uuid(), 'widget',
       CASE WHEN resolved THEN 'resolved' WHEN escalated THEN 'human' ELSE 'bot' END,
       'en', 'bench', started, started,
       CASE WHEN rated THEN (CASE WHEN random() < 0.75 THEN 'up' ELSE 'down' END) ELSE '' END,
       '', '',
       CASE WHEN resolved THEN started + make_interval(mins => 3 + (random() * 90)::int) END,
       CASE WHEN escalated THEN (%(agents)s::int[])[1 + floor(random() * %(team)s)::int] END,
       started + interval '8 seconds'
  FROM (SELECT %(since)s + random() * make_interval(secs => %(span)s) AS started, random() < 0.2 AS escalated,
               random() < 0.7 AS resolved, random() < 0.3 AS rated
          FROM generate_series(1, %(count)s)) generated
 ORDER BY started
RETURNING id
"""
MESSAGES = """
INSERT INTO helpdesk_message (role, content, metadata, created_at, conversation_id, author_id, client_message_id)
SELECT 'customer', 'Where is my order?', '{}'::jsonb, c.created_at, c.id, NULL::integer, ''
  FROM helpdesk_conversation c WHERE c.id BETWEEN %(first)s AND %(last)s
UNION ALL
SELECT 'assistant', 'It is on its way.', '{}'::jsonb,
       c.created_at + make_interval(secs => 1 + random() * 7), c.id, NULL::integer, ''
  FROM helpdesk_conversation c WHERE c.id BETWEEN %(first)s AND %(last)s
UNION ALL
SELECT 'agent', 'Jana here, let me check.', '{}'::jsonb, c.created_at + make_interval(mins => 2 + (random() * 38)::int),
       c.id, c.assigned_agent_id, ''
  FROM helpdesk_conversation c WHERE c.id BETWEEN %(first)s AND %(last)s AND c.assigned_agent_id IS NOT NULL
"""
TICKETS = """
INSERT INTO helpdesk_ticket (kind, subject, reason, priority, status, created_at, updated_at, follow_up_by_email,
                             conversation_id, assignee_id, resolved_at)
SELECT 'escalation', 'bench', 'human_request', 'medium',
       CASE WHEN c.status = 'resolved' THEN 'resolved' ELSE 'open' END,
       c.created_at, c.created_at, false, c.id, c.assigned_agent_id, c.resolved_at
  FROM helpdesk_conversation c WHERE c.id BETWEEN %(first)s AND %(last)s AND c.assigned_agent_id IS NOT NULL
"""
TURNS = """
INSERT INTO copilot_copilotturn (engine, model, delivery, fallback, steps, total_ms, llm_calls, prompt_tokens,
                                 completion_tokens, language, intent, intent_confidence, sentiment, urgency,
                                 entities, tools, citations, escalated, escalation_reasons, qa_reasons, regenerated,
                                 flagged, guard_blocks, suggested_replies, follow_up, created_at, conversation_id,
                                 customer_message_id, qa_score)
SELECT 'openai', 'bench', 'stream', '', '[]', 40, 2, 900, 120, 'en',
       (ARRAY['order_status', 'returns', 'refund_request', 'billing', 'human_request'])[1 + (m.id %% 5)],
       0.9, (ARRAY['neutral', 'neutral', 'positive', 'negative', 'angry'])[1 + (m.id %% 5)], 'low',
       '{}', '[]', '[]', c.assigned_agent_id IS NOT NULL,
       CASE WHEN c.assigned_agent_id IS NOT NULL THEN '["human_request"]'::jsonb ELSE '[]'::jsonb END,
       '[]', false, false, '[]', '[]', '{}', m.created_at, c.id, m.id, 5 + random() * 5
  FROM helpdesk_message m JOIN helpdesk_conversation c ON c.id = m.conversation_id
 WHERE m.role = 'customer' AND c.id BETWEEN %(first)s AND %(last)s
"""


def generate(count: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from helpdesk.services.agents import agent_upsert
    from helpdesk.services.conversations import conversation_first_messages_refresh

    password = secrets.token_urlsafe()
    agents = [
        agent_upsert(username=f"a{n}", email=f"a{n}@example.com", display_name=f"Agent {n}", password=password).pk
        for n in range(TEAM)
    ]
    started = time.perf_counter()
    # Chunk by chunk through the year, each in time order, as a live helpdesk stores them: a
    # period's rows then sit together on disk (in random order a 30-day range read 4x the pages).
    year_start = timezone.now() - timedelta(days=365)
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        span = timedelta(days=365) * size / count
        window = {"since": year_start + timedelta(days=365) * done / count, "span": span.total_seconds()}
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(CONVERSATIONS, {"count": size, "agents": agents, "team": TEAM, **window})
            ids = [row[0] for row in cursor.fetchall()]
            bounds = {"first": min(ids), "last": max(ids)}
            for statement in (MESSAGES, TICKETS, TURNS):
                cursor.execute(statement, bounds)
            # What message_add keeps on each conversation as its messages come.
            conversation_first_messages_refresh(conversation_ids=ids)
        done += size
        print(f"    {done:,} of {count:,} conversations generated", flush=True)
    with connection.cursor() as cursor:
        # What autovacuum does in production after the conversations' updates.
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def timed(period, runs: int) -> list[float]:
    from helpdesk.analytics import analytics_get

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        analytics_get(period=period)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="conversations in the year, ascending")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="start from a kept scratch database")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.reuse:
        scratch_attach(DB_NAME)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    else:
        scratch_django(DB_NAME)

    from django.utils import timezone

    from helpdesk.analytics import Period
    from helpdesk.models import Conversation

    today = timezone.localdate()
    ranges = {
        "30 days": Period(start=today - timedelta(days=29), end=today),
        "365 days": Period(start=today - timedelta(days=364), end=today),
    }
    targets = {"30 days": TARGET_30_DAYS_S, "365 days": TARGET_YEAR_S}
    print(f"analytics_get, {args.runs} runs a range; targets: 30 days <= {TARGET_30_DAYS_S} s, ", end="")
    print(f"a year <= {TARGET_YEAR_S} s at 1,000,000 conversations a year")
    try:
        for size in sizes:
            have = Conversation.objects.count()
            if size < have:
                print(f"  {size:,}: the database already has {have:,} conversations; skipped")
                continue
            if size > have:
                print(f"  generating {size - have:,} conversations ...", flush=True)
                seconds = generate(size - have)
                print(f"    {seconds:.0f} s")
            for name, period in ranges.items():
                counted = Conversation.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
                times = timed(period, args.runs)
                # The typical page load against the target; the max shows the noise of a 2-core machine.
                verdict = "ok" if statistics.median(times) <= targets[name] or size < 1_000_000 else "OVER TARGET"
                print(
                    f"  {size:>9,} a year, {name:>8} ({counted.count():>7,} conversations): "
                    f"median {statistics.median(times):6.3f} s, max {max(times):6.3f} s  {verdict}",
                    flush=True,
                )
    finally:
        if not args.keep:
            scratch_drop(DB_NAME)


if __name__ == "__main__":
    main()
