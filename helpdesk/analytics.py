"""Selectors for the analytics page (docs/analytics.md): every figure is one SQL aggregate over
a date range, in the site's time zone. Reads only.

Which conversations count: those created in the range in which the customer wrote at least
once (the queue leaves out the rest). A conversation had a *human* when it got an escalation
ticket, an agent's message or an assigned agent. It was *resolved by the AI* when the copilot
answered and no human took part. Response times are measured from the customer's first
message to the first answer of the bot, or of an agent.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from helpdesk.payloads import agent_name
from knowledge.models import KnowledgeGap


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def since(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def until(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


# The conversations in the period, with what the figures need about each. Every query below
# starts from it, on the created_at index; when each side first wrote is kept on the
# conversation by ``message_add`` (reading it from the messages cost twice as much at scale,
# bench/analytics_bench.py). Materialized, so the escalation check runs once per conversation.
CONVERSATIONS = """
WITH conv AS MATERIALIZED (
    SELECT c.id, c.status, c.csat, c.created_at, c.resolved_at, c.assigned_agent_id,
           (c.created_at AT TIME ZONE %(tz)s)::date AS day,
           c.first_customer_message_at AS first_customer_at,
           c.first_bot_reply_at AS first_bot_at,
           c.first_agent_reply_at AS first_agent_at,
           EXISTS (SELECT 1 FROM helpdesk_ticket t
                    WHERE t.conversation_id = c.id AND t.kind = 'escalation') AS escalated
      FROM helpdesk_conversation c
     WHERE c.created_at >= %(since)s AND c.created_at < %(until)s AND c.first_customer_message_at IS NOT NULL
), counted AS (
    SELECT conv.*,
           (escalated OR first_agent_at IS NOT NULL OR assigned_agent_id IS NOT NULL) AS had_human
      FROM conv
)
"""


# Memory for one figure's sorts and hashes: at 80,000 conversations in the range PostgreSQL's
# default 4 MB spilled them to disk (bench/analytics_bench.py).
WORK_MEM = "64MB"


def _rows(sql: str, period: Period, **params) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
        cursor.execute(sql, {"since": period.since, "until": period.until, "tz": settings.TIME_ZONE, **params})
        return cursor.fetchall()


def _over_conversations(select: str, period: Period) -> list[tuple]:
    # The SQL is this module's constants only; every value is a bound parameter.
    return _rows(CONVERSATIONS + select, period)  # noqa: S608


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value) -> float | None:
    # Milliseconds kept: the offline bot's first answer takes about 50 ms.
    return round(float(value), 3) if value is not None else None


def analytics_conversation_figures(*, period: Period) -> dict:
    """One pass over the period's conversations: how many per day with the automation and
    escalation rates, the response and resolution times (median and mean, bot and human, in
    seconds) and CSAT (overall, and for those the AI resolved alone)."""
    rows = _over_conversations(
        """SELECT day, count(*),
            count(*) FILTER (WHERE NOT had_human AND first_bot_at IS NOT NULL),
            count(*) FILTER (WHERE escalated),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_bot_at - first_customer_at))
                FILTER (WHERE first_bot_at >= first_customer_at),
            avg(extract(epoch FROM first_bot_at - first_customer_at)) FILTER (WHERE first_bot_at >= first_customer_at),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_agent_at - first_customer_at))
                FILTER (WHERE first_agent_at >= first_customer_at),
            avg(extract(epoch FROM first_agent_at - first_customer_at))
                FILTER (WHERE first_agent_at >= first_customer_at),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at))
                FILTER (WHERE resolved_at IS NOT NULL AND NOT had_human),
            avg(extract(epoch FROM resolved_at - created_at)) FILTER (WHERE resolved_at IS NOT NULL AND NOT had_human),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at))
                FILTER (WHERE resolved_at IS NOT NULL AND had_human),
            avg(extract(epoch FROM resolved_at - created_at)) FILTER (WHERE resolved_at IS NOT NULL AND had_human),
            count(*) FILTER (WHERE csat <> ''),
            count(*) FILTER (WHERE csat = 'up'),
            count(*) FILTER (WHERE csat <> '' AND NOT had_human AND first_bot_at IS NOT NULL),
            count(*) FILTER (WHERE csat = 'up' AND NOT had_human AND first_bot_at IS NOT NULL)
          FROM counted
         GROUP BY GROUPING SETS ((day), ())""",
        period,
    )
    # The empty grouping set gives the period's row (day NULL), even when there are no conversations.
    (period_row,) = [row for row in rows if row[0] is None]
    days = {row[0]: row[1:4] for row in rows if row[0] is not None}
    (_, total, by_ai, escalated, *times, rated, up, ai_rated, ai_up) = period_row
    per_day = []
    for day in period.days:
        count, day_by_ai, day_escalated = days.get(day, (0, 0, 0))
        per_day.append(
            {
                "day": day.isoformat(),
                "count": count,
                "resolved_by_ai": day_by_ai,
                "escalated": day_escalated,
                "automation_rate": _rate(day_by_ai, count),
                "escalation_rate": _rate(day_escalated, count),
            }
        )
    bot_p50, bot_avg, human_p50, human_avg, res_ai_p50, res_ai_avg, res_h_p50, res_h_avg = times
    return {
        "conversations": {
            "per_day": per_day,
            "total": total,
            "resolved_by_ai": by_ai,
            "automation_rate": _rate(by_ai, total),
            "escalated": escalated,
            "escalation_rate": _rate(escalated, total),
        },
        "response_times": {
            "first_response": {
                "bot": {"p50": _seconds(bot_p50), "mean": _seconds(bot_avg)},
                "human": {"p50": _seconds(human_p50), "mean": _seconds(human_avg)},
            },
            "resolution": {
                "bot": {"p50": _seconds(res_ai_p50), "mean": _seconds(res_ai_avg)},
                "human": {"p50": _seconds(res_h_p50), "mean": _seconds(res_h_avg)},
            },
        },
        "csat": {
            "overall": {"rated": rated, "up": up, "score": _rate(up, rated)},
            "ai_resolved": {"rated": ai_rated, "up": ai_up, "score": _rate(ai_up, ai_rated)},
        },
    }


TURNS = """
SELECT {select}
  FROM copilot_copilotturn t
 WHERE t.created_at >= %(since)s AND t.created_at < %(until)s
"""


def _per_day_series(rows: list[tuple], period: Period) -> dict[str, list[int]]:
    """(day, key, count) rows as one list of daily counts per key, days without rows as 0."""
    index = {day: n for n, day in enumerate(period.days)}
    series: dict[str, list[int]] = {}
    for day, key, count in rows:
        series.setdefault(key, [0] * len(index))[index[day]] = count
    return dict(sorted(series.items()))


# One pass over the period's turns, grouped four ways (GROUPING() tells which a row belongs to).
TURN_GROUPS = """
SELECT GROUPING(day), GROUPING(intent), GROUPING(sentiment), GROUPING(qa),
       day, intent, sentiment, qa, count(*), sum(llm_calls), sum(prompt_tokens), sum(completion_tokens)
  FROM (SELECT (t.created_at AT TIME ZONE %(tz)s)::date AS day,
               coalesce(nullif(t.intent, ''), 'unknown') AS intent, t.sentiment,
               -- least() skips a NULL: an answer without a score would count as a 10.
               CASE WHEN t.qa_score IS NOT NULL THEN least(floor(t.qa_score)::int, 10) END AS qa,
               t.llm_calls, t.prompt_tokens, t.completion_tokens
          FROM copilot_copilotturn t
         WHERE t.created_at >= %(since)s AND t.created_at < %(until)s) turns
 GROUP BY GROUPING SETS ((intent), (day, sentiment), (qa), (day))
"""


def analytics_turn_figures(*, period: Period) -> dict:
    """What the copilot saw and did (intents; sentiment and escalation reasons by day; QA scores)
    and what it cost: model calls and tokens per day, priced per 1,000 tokens."""
    intents, sentiment, qa, usage = [], [], {}, {}
    for g_day, g_intent, g_sentiment, g_qa, day, intent, mood, score, count, calls, prompt, completion in _rows(
        TURN_GROUPS, period
    ):
        if not g_intent:
            intents.append((intent, count))
        elif not g_sentiment:
            sentiment.append((day, mood, count))
        elif not g_qa:
            if score is not None:
                qa[score] = count
        elif not g_day:
            usage[day] = (calls, prompt, completion)
    day = "(t.created_at AT TIME ZONE %(tz)s)::date"
    reasons = _rows(
        TURNS.format(select=f"{day}, reason, count(*)").replace(
            "FROM copilot_copilotturn t",
            "FROM copilot_copilotturn t CROSS JOIN LATERAL jsonb_array_elements_text(t.escalation_reasons) reason",
        )
        + " AND t.escalated GROUP BY 1, 2",
        period,
    )
    return {
        "turns": {
            "intents": [
                {"intent": intent, "count": count} for intent, count in sorted(intents, key=lambda i: (-i[1], i[0]))
            ],
            "sentiment_per_day": _per_day_series(sentiment, period),
            "escalation_reasons_per_day": _per_day_series(reasons, period),
            "qa_histogram": [{"score": score, "count": qa.get(score, 0)} for score in range(11)],
        },
        "llm": _llm_usage(usage, period),
    }


def _llm_usage(usage: dict, period: Period) -> dict:
    prompt_price = settings.LLM_PRICE_PROMPT_PER_1K
    completion_price = settings.LLM_PRICE_COMPLETION_PER_1K
    per_day = []
    for day_ in period.days:
        calls, prompt, completion = usage.get(day_, (0, 0, 0))
        cost = prompt / 1000 * prompt_price + completion / 1000 * completion_price
        per_day.append(
            {
                "day": day_.isoformat(),
                "calls": int(calls),
                "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
                "cost": round(cost, 4),
            }
        )
    return {
        "per_day": per_day,
        "calls": sum(row["calls"] for row in per_day),
        "tokens": sum(row["prompt_tokens"] + row["completion_tokens"] for row in per_day),
        "cost": round(sum(row["cost"] for row in per_day), 4),
        "currency": settings.LLM_PRICE_CURRENCY,
    }


def analytics_knowledge_gaps(*, period: Period, limit: int = 10) -> list[dict]:
    """The open gaps asked about in the period, most asked first."""
    gaps = KnowledgeGap.objects.filter(
        status=KnowledgeGap.Status.OPEN, last_seen_at__gte=period.since, first_seen_at__lt=period.until
    ).order_by("-count", "-last_seen_at")[:limit]
    return [{"question": gap.question, "count": gap.count, "locale": gap.locale} for gap in gaps]


def analytics_agents(*, period: Period) -> list[dict]:
    """Each agent's share of the period's conversations: those assigned to them (how many,
    resolved, the median first human reply, CSAT) and the replies they wrote in any of them."""
    # Straight from the conversations (the escalation check of CONVERSATIONS is not needed here).
    in_period = "c.created_at >= %(since)s AND c.created_at < %(until)s AND c.first_customer_message_at IS NOT NULL"
    assigned = _rows(
        f"""SELECT c.assigned_agent_id, count(*), count(*) FILTER (WHERE c.status = 'resolved'),
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM c.first_agent_reply_at - c.first_customer_message_at))
                   FILTER (WHERE c.first_agent_reply_at >= c.first_customer_message_at),
               count(*) FILTER (WHERE c.csat <> ''),
               count(*) FILTER (WHERE c.csat = 'up')
              FROM helpdesk_conversation c
             WHERE {in_period} AND c.assigned_agent_id IS NOT NULL
             GROUP BY 1""",  # noqa: S608 (constants only; values are bound)
        period,
    )
    replies = dict(
        _rows(
            f"""SELECT m.author_id, count(*)
                  FROM helpdesk_message m JOIN helpdesk_conversation c ON c.id = m.conversation_id
                 WHERE m.role = 'agent' AND m.author_id IS NOT NULL AND {in_period}
                 GROUP BY 1""",  # noqa: S608 (constants only; values are bound)
            period,
        )
    )
    by_agent = {row[0]: row[1:] for row in assigned}
    users = get_user_model().objects.filter(pk__in=by_agent.keys() | replies.keys())
    rows = []
    for user in users:
        conversations, resolved, first_reply, rated, up = by_agent.get(user.pk, (0, 0, None, 0, 0))
        rows.append(
            {
                "username": user.get_username(),
                "name": agent_name(user),
                "conversations": conversations,
                "resolved": resolved,
                "replies": replies.get(user.pk, 0),
                "first_reply_p50": _seconds(first_reply),
                "csat": {"rated": rated, "up": up, "score": _rate(up, rated)},
            }
        )
    return sorted(rows, key=lambda row: (-row["conversations"], -row["replies"], row["name"]))


def analytics_get(*, period: Period) -> dict:
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "days": [day.isoformat() for day in period.days],
        **analytics_conversation_figures(period=period),
        **analytics_turn_figures(period=period),
        "knowledge_gaps": analytics_knowledge_gaps(period=period),
        "agents": analytics_agents(period=period),
    }
