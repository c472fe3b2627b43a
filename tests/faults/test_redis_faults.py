"""Redis (channel layer, cache, Celery broker) is SIGKILLed mid-conversation and restarted on the same port.

Two daphne processes, a Celery worker and Postgres stay up. The customer keeps writing
while Redis is down; every message is stored once, every answer is stored once, and each
socket (the customer's tabs and an agent's console) reconnects and ends up holding every
message exactly once, as the browser code would.
"""

import asyncio
import time

import pytest

from helpdesk.consumers import CLOSE_RECONNECT
from tests.cluster import (
    ConsoleClient,
    WidgetClient,
    agent_cookie,
    post_json,
    run_async,
    running_cluster,
    until,
)

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def cluster():
    with running_cluster("faults_redis", web=2) as running:
        yield running


def _visible_ids(cluster, conversation: int) -> set[int]:
    """What the customer may see of the conversation (everything but internal notes)."""
    rows = cluster.query(
        "SELECT id FROM helpdesk_message WHERE conversation_id = %s AND role <> 'note'", (conversation,)
    )
    return {row[0] for row in rows}


def _answered(cluster, message_ids: list[int]) -> dict[int, int]:
    """Customer message id -> the id of the stored answer, for those answered."""
    rows = cluster.query(
        "SELECT customer_message_id, reply_id FROM copilot_copilotturn WHERE customer_message_id = ANY(%s)",
        (message_ids,),
    )
    return {message: reply for message, reply in rows if reply is not None}


def test_redis_killed_mid_stream_loses_nothing_and_duplicates_nothing(cluster):
    a, b = cluster.hosts
    cookie = agent_cookie(b)
    session = post_json(f"http://{a}/api/widget/conversations", {"language": "en"})
    timings: dict[str, float] = {}

    async def scenario():
        console = ConsoleClient(b, cookie)
        tab = WidgetClient(a, session["token"])
        late_tab = WidgetClient(b, session["token"])
        clients = [console, tab]
        for client in clients:
            client.start()
        try:
            await until(lambda: tab.online and console.online, seconds=15, what="both sockets")
            await tab.say("How do I reset my password?", "c1")
            first = await tab.acked("c1")
            await until(lambda: first in tab.done, seconds=30, what="the first answer")
            conversation = tab.held[first]["conversation"]
            await console.watch(conversation)
            await until(lambda: first in console.held, seconds=5, what="the console to see the first message")

            # Kill Redis while the second answer streams (its first status chip or token is out).
            await tab.say("Where is my order 12345?", "c2")
            second = await tab.acked("c2")
            await until(
                lambda: any(f.get("reply_to") == second and f["type"] in ("status", "token") for f in tab.frames),
                seconds=30,
                what="the second answer to start streaming",
            )
            killed = time.monotonic()
            cluster.redis_kill()

            # Redis is down, Postgres is up: what the customer writes now is stored and acked.
            await tab.say("Why was I charged twice?", "c3")
            third = await tab.acked("c3", seconds=15)
            timings["ack while down (s)"] = time.monotonic() - killed
            # A tab opened during the outage, on the other process, resumes from the database.
            late_tab.start()
            clients.append(late_tab)
            await until(lambda: late_tab.online, seconds=15, what="a tab to open while Redis is down")
            await until(lambda: second in late_tab.held, seconds=10, what="the new tab to hold the second message")
            pongs = tab.pongs
            await tab.socket.send('{"type": "ping"}')
            await until(lambda: tab.pongs > pongs, seconds=5, what="a pong while Redis is down")
            # Both turns finish while Redis is down; their answers are stored.
            await until(lambda: len(_answered(cluster, [second, third])) == 2, seconds=30, what="answers while down")
            # No process waited on its own for a Redis that is not there.
            assert all(cluster.alive(label) for label in ("daphne-a", "daphne-b", "celery"))

            # Long enough for every socket to retry the layer a few times.
            await asyncio.sleep(max(0.0, 3 - (time.monotonic() - killed)))
            opened = {client: client.opened for client in clients}
            await asyncio.to_thread(cluster.redis_start)
            restarted = time.monotonic()
            timings["outage (s)"] = restarted - killed
            # Every socket notices, reconnects and catches up.
            await until(
                lambda: all(client.opened > opened[client] and client.online for client in clients),
                seconds=20,
                what="every socket to reconnect after Redis restarted",
            )
            timings["reconnected after restart (s)"] = time.monotonic() - restarted
            await tab.say("Thanks! How long do refunds take?", "c4")
            fourth = await tab.acked("c4")
            await until(lambda: fourth in tab.done, seconds=30, what="the answer after the restart")
            ids = [first, second, third, fourth]
            answers = _answered(cluster, ids)
            assert set(answers) == set(ids)
            visible = _visible_ids(cluster, conversation)
            for client in (tab, late_tab, console):
                await until(
                    lambda client=client: visible <= set(client.held),
                    seconds=10,
                    what=f"{type(client).__name__} to hold every message",
                )
            return {
                "ids": ids,
                "answers": answers,
                "conversation": conversation,
                "tab": tab,
                "late_tab": late_tab,
                "console": console,
            }
        finally:
            for client in clients:
                await client.stop()

    result = run_async(scenario())
    print(f"\nRedis fault timings: { {name: round(value, 2) for name, value in timings.items()} }")
    print(f"frames per message id, customer's first tab: {result['tab'].deliveries}")
    transcript = cluster.query(
        "SELECT id, role, left(content, 60) FROM helpdesk_message WHERE conversation_id = %s ORDER BY id",
        (result["conversation"],),
    )
    print("\n".join(f"  {row}" for row in transcript))
    print(
        cluster.query(
            "SELECT id, reason, status FROM helpdesk_ticket WHERE conversation_id = %s", (result["conversation"],)
        )
    )
    conversation, ids, answers = result["conversation"], result["ids"], result["answers"]
    tab, late_tab, console = result["tab"], result["late_tab"], result["console"]

    # Stored once: one row per client_id, one turn and one answer per customer message.
    rows = cluster.query(
        "SELECT client_message_id, count(*) FROM helpdesk_message "
        "WHERE conversation_id = %s AND role = 'customer' GROUP BY client_message_id",
        (conversation,),
    )
    assert dict(rows) == {"c1": 1, "c2": 1, "c3": 1, "c4": 1}
    turns = cluster.query(
        "SELECT customer_message_id, count(*) FROM copilot_copilotturn WHERE conversation_id = %s "
        "GROUP BY customer_message_id",
        (conversation,),
    )
    assert dict(turns) == dict.fromkeys(ids, 1)
    replies = cluster.query(
        "SELECT count(*) FROM helpdesk_message WHERE conversation_id = %s AND role = 'assistant'", (conversation,)
    )
    assert replies[0][0] == len(ids)

    # Every client holds exactly what is stored, and no socket delivered a message twice.
    visible = _visible_ids(cluster, conversation)
    assert set(tab.held) == visible
    assert set(late_tab.held) == visible
    assert set(console.held) == visible
    # A frame can arrive live and again in the replay of a reconnect; the widget draws it once by id.
    assert not tab.conflicts and not late_tab.conflicts
    assert not tab.outbox and not late_tab.outbox
    # The sockets were told to come back (4012), not dropped by a crashing consumer (1011).
    for client in (tab, late_tab, console):
        assert 1011 not in client.close_codes, client.close_codes
        assert CLOSE_RECONNECT in client.close_codes, client.close_codes
    # The console is live again: the answer given after the restart reached it over the socket.
    assert answers[ids[3]] in {message["id"] for message in console.live}

    # The turns whose live stream was lost say so in their trace; the others do not.
    steps = dict(
        cluster.query(
            "SELECT customer_message_id, steps FROM copilot_copilotturn WHERE conversation_id = %s", (conversation,)
        )
    )
    failed = {message for message, trace in steps.items() if any(s["name"] == "deliver" and not s["ok"] for s in trace)}
    assert failed == {ids[1], ids[2]}
    assert "channel layer unavailable" in next(s for s in steps[ids[1]] if s["name"] == "deliver")["error"]

    for label in ("daphne-a", "daphne-b"):
        log = (cluster.logs / f"{label}.log").read_text()
        assert "Exception inside application" not in log
    assert all(cluster.alive(label) for label in ("daphne-a", "daphne-b", "celery", "redis"))


def test_an_answer_stored_while_redis_is_down_is_no_copilot_error_and_gets_its_follow_up(cluster):
    host = cluster.hosts[0]
    session = post_json(f"http://{host}/api/widget/conversations", {"language": "en"})

    async def scenario() -> int:
        tab = WidgetClient(host, session["token"])
        tab.start()
        try:
            await until(lambda: tab.online, seconds=15, what="the customer's socket")
            cluster.redis_kill()
            await tab.say("How long do refunds take?", "d1")
            message = await tab.acked("d1", seconds=15)
            await until(lambda: _answered(cluster, [message]), seconds=30, what="the answer while Redis is down")
            # Past the publish's own retries (about a second), so it really met a broker that is down.
            await asyncio.sleep(2)
            await asyncio.to_thread(cluster.redis_start)
            reply = _answered(cluster, [message])[message]
            await until(lambda: reply in tab.held, seconds=20, what="the answer to reach the customer")
            return message
        finally:
            await tab.stop()

    message = run_async(scenario())
    conversation = cluster.query("SELECT conversation_id FROM helpdesk_message WHERE id = %s", (message,))[0][0]
    # An idle worker runs a queued follow-up within a second or two.
    deadline = time.monotonic() + 8
    plan = {}
    while time.monotonic() < deadline and not plan:
        plan = cluster.query("SELECT follow_up FROM copilot_copilotturn WHERE customer_message_id = %s", (message,))[0][
            0
        ]
        time.sleep(0.3)
    errors = cluster.query(
        "SELECT id, reason FROM helpdesk_ticket WHERE conversation_id = %s AND reason LIKE %s",
        (conversation, "%internal error%"),
    )
    print(f"\ncopilot-error tickets: {errors}; follow-up plan: {plan}")
    assert errors == [], "the broker being down was taken for a copilot error"
    assert plan, "the turn's follow-up plan was never written: its task was never queued"
