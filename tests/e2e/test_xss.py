"""The XSS corpus (tests/e2e/xss_payloads.py) rendered in a real browser everywhere it can show up.

Every payload is a customer's name, a customer's chat message, the title and body of a
published help-centre article and a search query. A few articles go in through the Django
admin's add form in the browser; the rest, and the customers, through the same services
from a subprocess on the server's database, because embedding an article is slow on a
busy machine. One more customer sends all payloads in one message through the widget, and an
agent replies and writes a note with all of them through the console. Then each payload is
looked at in the widget, the agent console, the help centre and the admin.

A page passes when the payload is visible as the literal text it is (so it did render, and
as text), no payload ran (``window.__xss``, dialogs, page errors), no payload's markup was
parsed (the probe, requests to ``/xss-img/``, frames) and no Content-Security-Policy
violation was reported: on /console/ and /demo/ the CSP would stop a handler, but a
violation still means markup got in.

Pages are shared per role and payloads batched where a page lists many of them, so the
whole corpus renders in a few minutes on two cores.
"""

import html
import json
import queue
import re
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import markdown
import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Page, expect

from tests.e2e.conftest import server_env
from tests.e2e.xss_payloads import (
    BY_ID,
    IMG_PATH,
    INIT_SCRIPT,
    PAYLOADS,
    PROBE_SCRIPT,
    Payload,
    literal,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30_000
ADMIN = ("admin", "admin-demo-pass")
AGENT = ("jana", "agent-demo-pass")
ALL_CUSTOMER = {"external_id": "xss_all", "name": "Xavier Allpayloads", "email": "xss.all@example.test"}
ALL_TEXT = "\n".join(payload.text for payload in PAYLOADS)
# Category name and description are payloads too: they head the help centre's listing.
CATEGORY = {"name": BY_ID["p14"].text, "slug": "xss-category", "description": BY_ID["p27"].text}

# (surface, payload id) -> why it fails. Each becomes xfail(strict=True), so a fix shows up.
KNOWN: dict[tuple[str, str], str] = {}

# Customers and most articles go in through the same services the admin and the CRM import
# use, from a subprocess on the server's database. One BLAS thread: the second one only
# thrashes when the other core is busy, and embedding is the slow part of saving an article.
SEED = """
import json, sys
import django
django.setup()
from crm.services import customer_upsert
from knowledge.models import Article, Category
from knowledge.services import article_save
data = json.load(sys.stdin)
for row in data["customers"]:
    customer_upsert(**row)
print("customers", flush=True)
import numpy as np
from knowledge.services import knowledge_gap_record
for number, question in enumerate(data["gaps"]):
    # A vector of its own, so similar payload questions stay separate gaps instead of merging.
    vector = np.random.default_rng(number).normal(size=384).astype("float32")
    knowledge_gap_record(question=question, locale="en", confidence=0.1, embedding=vector / np.linalg.norm(vector))
category = Category.objects.get(slug=data["category"])
for row in data["articles"]:
    payload_id = row.pop("id")
    article_save(article=Article(category=category, status="published", locale="en", **row))
    print("article", payload_id, flush=True)
"""
# These articles go in through the admin's add form in the browser, as a curator would add
# them: breakouts of attribute values, <script>, <title> and <textarea>, the contexts an
# add form and its success message put a title in. The category's add form takes p14 and
# p27. Only a few: each save embeds on the server, which takes seconds on a busy machine.
ADMIN_ADDED = ["p09", "p11", "p13", "p36"]


def cells(surface: str) -> list:
    return [
        pytest.param(
            payload,
            id=payload.id,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN[(surface, payload.id)])]
            if (surface, payload.id) in KNOWN
            else [],
        )
        for payload in PAYLOADS
    ]


def gap_question(payload: Payload) -> str:
    return f"Do you sell {payload.text}?"


def payload_ids(text: str) -> set[str]:
    return set(re.findall(r"(?<![0-9])(p\d\d)(?![0-9])", text))


# ------------------------------------------------------------------ watching a page


class Watch:
    """Everything a page reports that only a payload could cause."""

    def __init__(self, page: Page):
        self.page = page
        self.events: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.events.append(f"page error: {error}"))
        page.on("console", self._on_console)
        page.on("request", self._on_request)

    def _on_dialog(self, dialog) -> None:
        self.events.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_console(self, message) -> None:
        text = message.text
        url = message.location.get("url", "")
        if "XSS-EXECUTED" in text:
            self.events.append(f"script ran (console): {text}")
        elif "Content Security Policy" in text:
            self.events.append(f"CSP refused: {text[:300]}")
        elif message.type == "error" and not url.endswith("/favicon.ico"):
            self.events.append(f"console error: {text[:300]} ({url})")

    def _on_request(self, request) -> None:
        if IMG_PATH in request.url:
            self.events.append(f"injected image requested: {request.url}")

    def findings(self) -> list[str]:
        """What happened since the last call, plus what the page holds now."""
        found, self.events = self.events, []
        for frame in self.page.frames:
            if frame != self.page.main_frame:
                found.append(f"unexpected frame: {frame.url[:160]}")
            try:
                hits = frame.evaluate("window.__xss || []")
                probe = frame.evaluate(PROBE_SCRIPT)
                csp = frame.evaluate("window.__csp || []")
            except Error as exc:
                found.append(f"frame {frame.url[:80]} could not be inspected: {exc}")
                continue
            found += [f"script ran: {hit}" for hit in hits]
            found += [f"markup injected at {where}: {what}: {html}" for where, what, html in probe]
            found += [f"CSP violation: {violation}" for violation in csp]
        return found


def new_page(context: BrowserContext) -> tuple[Page, Watch]:
    page = context.new_page()
    return page, Watch(page)


def context_for(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(INIT_SCRIPT)
    return context


def admin_login(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", ADMIN[0])
    page.fill("#id_password", ADMIN[1])
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{base}/admin/", timeout=WAIT)


def console_login(page: Page, base: str) -> None:
    page.goto(f"{base}/console/")
    page.get_by_label("Username").fill(AGENT[0])
    page.get_by_label("Password").fill(AGENT[1])
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()
    expect(page.locator("#queue-list")).to_be_visible(timeout=WAIT)


# ------------------------------------------------------------------ putting the corpus in


class Seeder:
    """The payload customers, and the articles the admin form does not add, written by the app's
    services in a subprocess; ``ready`` gets each payload id whose article is in and indexed."""

    def __init__(self, ready: queue.Queue):
        self.ready = ready
        self.customers_in = threading.Event()
        self.output: list[str] = []
        articles = [p for p in PAYLOADS if p.id not in ADMIN_ADDED]
        data = {
            "customers": [{"external_id": p.external_id, "name": p.text, "email": p.email} for p in PAYLOADS]
            + [ALL_CUSTOMER],
            "category": CATEGORY["slug"],
            "articles": [{"id": p.id, "title": p.text, "slug": p.slug, "body": p.article_body} for p in articles],
            # Unanswered questions for the analytics page's top knowledge gaps.
            "gaps": [gap_question(p) for p in PAYLOADS],
        }
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", SEED],
            cwd=ROOT,
            env={**server_env(), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.process.stdin.write(json.dumps(data))
        self.process.stdin.close()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            words = line.split()
            if words == ["customers"]:
                self.customers_in.set()
            elif len(words) == 2 and words[0] == "article":
                self.ready.put(words[1])

    def wait_for_customers(self) -> None:
        deadline = time.monotonic() + 300
        while not self.customers_in.wait(timeout=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.reader.join(timeout=10)
                raise AssertionError("the seed subprocess wrote no customers:\n" + "".join(self.output))

    def wait(self) -> None:
        self.process.wait(timeout=600)
        self.reader.join(timeout=30)
        assert self.process.returncode == 0, "".join(self.output)


def admin_add_category(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/knowledge/category/add/")
    page.fill("#id_name", CATEGORY["name"])
    page.fill("#id_description", CATEGORY["description"])
    slug = page.locator("#id_slug")
    slug.fill(CATEGORY["slug"])
    slug.dispatch_event("change")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible(timeout=WAIT)


def admin_add_article(page: Page, base: str, payload: Payload) -> None:
    """Through the admin's add form, as a curator would: payload title, payload-laden Markdown body."""
    page.goto(f"{base}/admin/knowledge/article/add/")
    page.fill("#id_title", payload.text)
    page.fill("#id_body", payload.article_body)
    page.select_option("#id_status", "published")
    page.select_option("#id_category", label=CATEGORY["name"])
    # Last, and marked changed, so prepopulate.js no longer derives it from the title.
    slug = page.locator("#id_slug")
    slug.fill(payload.slug)
    slug.dispatch_event("change")
    expect(slug).to_have_value(payload.slug)
    page.click("input[name=_save]")
    success = page.locator(".messagelist .success")
    expect(success).to_be_visible(timeout=WAIT)
    # The confirmation quotes the title: the first admin page to render it.
    assert literal(payload.text) in literal(success.inner_text())


def identity_hash(base: str, external_id: str) -> str:
    """What the shop's backend signs for its customer: read off the demo shop's script tag."""
    with urllib.request.urlopen(f"{base}/demo/?as={urllib.parse.quote(external_id)}", timeout=30) as response:  # noqa: S310
        html = response.read().decode()
    return re.search(r'data-identity-hash="([0-9a-f]{64})"', html).group(1)


@dataclass
class Chat:
    token: str
    public_id: str
    pk: int
    citations: list = field(default_factory=list)


def chat_over_websocket(base: str, payload: Payload) -> Chat:
    """The widget's protocol: start as the verified customer, send the payload question, ask for a human."""
    from websockets.sync.client import connect

    body = json.dumps(
        {
            "customer_id": payload.external_id,
            "identity_hash": identity_hash(base, payload.external_id),
            "language": "en",
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310
        f"{base}/api/widget/conversations", data=body, headers={"Content-Type": "application/json", "Origin": base}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        session = json.load(response)
    chat = Chat(token=session["token"], public_id=session["conversation"]["id"], pk=0)
    url = base.replace("http", "ws", 1) + "/ws/chat/" + urllib.parse.quote(chat.token) + "/"
    with connect(url, origin=base, open_timeout=30) as socket:
        socket.send(json.dumps({"type": "message", "text": payload.question, "client_id": str(uuid.uuid4())}))
        for frame in frames(socket, until="reply_done"):
            message = frame.get("message") or {}
            if message.get("role") == "customer":
                chat.pk = message["conversation"]
            elif message.get("role") == "assistant":
                chat.citations = message["citations"]
        socket.send(json.dumps({"type": "human"}))
        list(frames(socket, until="escalated"))
    return chat


def frames(socket, *, until: str):
    deadline = time.monotonic() + WAIT / 1000
    while True:
        frame = json.loads(socket.recv(timeout=max(1.0, deadline - time.monotonic())))
        if frame["type"] == "error":
            raise AssertionError(f"the chat refused a frame: {frame}")
        yield frame
        if frame["type"] == until:
            return


@dataclass
class Corpus:
    base: str
    chats: dict[str, Chat]
    # What the admin's add pages showed while each payload's article went in.
    add_findings: dict[str, list[str]]
    # The all-payloads conversation: its pk and the widget's stored record.
    all_pk: int = 0
    all_record: str = ""
    # What the widget and the console showed while messages, escalations and replies arrived live.
    live_findings: dict[str, list[str]] = field(default_factory=dict)


def store_key(base: str, external_id: str) -> str:
    """Where widget.js keeps a customer's conversation token (data-server defaults to the script's origin)."""
    return f"support-copilot:{base}:{external_id}"


def widget_open(page: Page) -> None:
    dialog = page.get_by_role("dialog")
    if not dialog.is_visible():
        page.locator("[part=launcher]").click()
    expect(dialog).to_be_visible(timeout=WAIT)


def all_payloads_conversation(browser: Browser, corpus: Corpus, agent: Page) -> None:
    """One customer sends every payload in one message through the widget's composer, and an
    agent answers with every payload, as a reply and as an internal note, through the console's."""
    base = corpus.base
    customer_context = context_for(browser)
    customer, customer_watch = new_page(customer_context)
    customer.goto(f"{base}/demo/?as={ALL_CUSTOMER['external_id']}")
    widget_open(customer)
    box = customer.locator("[part=input]")
    box.fill(ALL_TEXT)
    box.press("Enter")
    dialog = customer.get_by_role("dialog")
    expect(dialog.locator(".msg.customer[data-state=sent]")).to_have_count(1, timeout=WAIT)
    # Embedding a 2,500-character question alone takes ~6 s of one core when the machine is busy.
    expect(dialog.locator(".msg.assistant")).to_have_count(1, timeout=4 * WAIT)
    customer.locator("[part=human]").click()
    expect(dialog.locator(".notice").first).to_be_visible(timeout=WAIT)

    row = agent.locator("[data-conversation-id]").filter(has_text=ALL_CUSTOMER["name"]).first
    expect(row).to_be_visible(timeout=WAIT)
    corpus.all_pk = int(row.get_attribute("data-conversation-id"))
    row.click()
    expect(agent.locator("#transcript")).to_contain_text("__xssHit", timeout=WAIT)
    agent.get_by_role("button", name="Take over").click()
    expect(dialog).to_contain_text(re.compile("joined the chat", re.I), timeout=WAIT)
    composer = agent.locator("#composer-text")
    composer.fill(ALL_TEXT)
    composer.press("Enter")
    # The reply arrives live in the widget: rendered by the same code as a reload, but while open.
    expect(dialog.locator(".msg.agent")).to_have_count(1, timeout=WAIT)
    agent.locator("#mode-note").click()
    composer.fill(ALL_TEXT)
    composer.press("Enter")
    expect(agent.locator("#transcript .msg-note")).to_have_count(1, timeout=WAIT)
    corpus.live_findings["widget"] = customer_watch.findings()
    corpus.all_record = customer.evaluate(
        "key => localStorage.getItem(key)", store_key(base, ALL_CUSTOMER["external_id"])
    )
    customer_context.close()


def chat_each(base: str, ready: queue.Queue, seeder: Seeder, chats: dict[str, Chat], errors: list) -> None:
    """In a thread, while the browser adds articles: each payload's chat as soon as its article is in."""
    try:
        seeder.wait_for_customers()
        for _ in PAYLOADS:
            payload_id = ready.get(timeout=300)
            chats[payload_id] = chat_over_websocket(base, BY_ID[payload_id])
    except BaseException as exc:  # noqa: BLE001 - re-raised in the fixture's thread
        errors.append(exc)


@pytest.fixture(scope="module")
def corpus(browser, live_server_url) -> Corpus:
    base = live_server_url
    started = time.monotonic()
    admin_context = context_for(browser)
    page, watch = new_page(admin_context)
    admin_login(page, base)
    admin_add_category(page, base)
    add_findings = {"category": watch.findings()}
    # An agent is at the console from the start: every escalation arrives live (queue row, toast).
    agent_context = context_for(browser)
    agent, agent_watch = new_page(agent_context)
    console_login(agent, base)

    # Embedding articles keeps one core busy; the chats run alongside on the server.
    ready: queue.Queue[str] = queue.Queue()
    seeder = Seeder(ready)
    chats: dict[str, Chat] = {}
    errors: list[BaseException] = []
    chatter = threading.Thread(target=chat_each, args=(base, ready, seeder, chats, errors), daemon=True)
    chatter.start()
    for payload_id in ADMIN_ADDED:
        admin_add_article(page, base, BY_ID[payload_id])
        add_findings[payload_id] = watch.findings()
        ready.put(payload_id)
    admin_context.close()

    corpus = Corpus(base=base, chats=chats, add_findings=add_findings)
    seeder.wait_for_customers()
    all_payloads_conversation(browser, corpus, agent)
    seeder.wait()
    chatter.join(timeout=600)
    if errors:
        raise errors[0]
    assert sorted(chats) == sorted(BY_ID)
    expect(agent.locator("#queue-list [data-conversation-id]")).not_to_have_count(0)
    corpus.live_findings["console"] = agent_watch.findings()
    agent_context.close()
    print(f"corpus in {time.monotonic() - started:.1f} s")  # noqa: T201
    return corpus


def no_findings(found: list[str], where: str) -> None:
    assert not found, f"{where}:\n" + "\n".join(found)


def text_of(locator) -> str:
    return literal(locator.inner_text())


# ------------------------------------------------------------------ the detector itself


def careless_page(text: str) -> str:
    """The payload as careless code would render it: raw into markup, attribute values, script
    strings and template literals, after a double HTML unescape, NFKC normalization and
    Markdown without a sanitizer. Each payload is meant to break at least one of these."""
    js_string = text.replace("\n", " ")
    return f"""<!doctype html><html><head><title>{text}</title></head><body>
<div>{text}</div>
<input value="{text}"><input value='{text}'>
<textarea>{text}</textarea>
<div>{html.unescape(html.unescape(text))}</div>
<div>{unicodedata.normalize("NFKC", text)}</div>
<div>{markdown.markdown(text)}</div>
<div id="from-js"></div>
<script>window.__data = {json.dumps({"name": text})};</script>
<script>document.getElementById("from-js").innerHTML = "{js_string}";</script>
<script>document.title = `{js_string}`;</script>
</body></html>"""


@pytest.fixture(scope="module")
def careless(browser):
    """A made-up site that renders /<payload id> carelessly."""
    context = context_for(browser)

    def serve(route):
        pid = route.request.url.rsplit("/", 1)[1]
        if pid in BY_ID:
            route.fulfill(status=200, content_type="text/html", body=careless_page(BY_ID[pid].text))
        else:
            route.fulfill(status=404, body="")

    context.route("http://careless.test/**", serve)
    page, watch = new_page(context)
    yield page, watch
    context.close()


@pytest.mark.parametrize("payload", [pytest.param(p, id=p.id) for p in PAYLOADS])
def test_the_detector_catches_each_payload_rendered_carelessly(careless, payload):
    """Proof that the checks below can fail: every payload, rendered unsafely, is caught and named."""
    page, watch = careless
    page.goto(f"http://careless.test/{payload.id}")
    # Frames and image errors settle after load.
    page.wait_for_timeout(100)
    caught = [finding for finding in watch.findings() if payload.id in payload_ids(finding)]
    assert caught, f"{payload.id} ({payload.kind}) rendered unsafely went unnoticed"


# ------------------------------------------------------------------ the admin's add form


@pytest.mark.parametrize("payload", [c for c in cells("admin-add") if c.id in ADMIN_ADDED])
def test_admin_add_form_keeps_the_title_text(corpus, payload):
    no_findings(corpus.add_findings[payload.id], f"admin add form, article {payload.id} ({payload.kind})")


def test_admin_add_form_keeps_the_category_text(corpus):
    no_findings(corpus.add_findings["category"], "admin add form, category")


# ------------------------------------------------------------------ the widget


@pytest.fixture(scope="module")
def widget(browser, corpus):
    """A visitor's browser holding every payload customer's conversation token where the widget keeps it."""
    context = context_for(browser)
    stored = {
        store_key(corpus.base, payload.external_id): json.dumps(
            {"token": chat.token, "lastId": 0, "conversation": chat.public_id, "language": "en", "outbox": []}
        )
        for payload in PAYLOADS
        for chat in [corpus.chats[payload.id]]
    }
    stored[store_key(corpus.base, ALL_CUSTOMER["external_id"])] = corpus.all_record
    context.add_init_script(
        f"(() => {{ for (const [key, record] of Object.entries({json.dumps(stored)}))"
        " localStorage.setItem(key, record); })();"
    )
    page, watch = new_page(context)
    yield page, watch
    context.close()


@pytest.mark.parametrize("payload", cells("widget"))
def test_widget_shows_the_payload_as_text(corpus, widget, payload):
    page, watch = widget
    chat = corpus.chats[payload.id]
    page.goto(f"{corpus.base}/demo/?as={payload.external_id}")
    widget_open(page)
    dialog = page.get_by_role("dialog")
    source = dialog.locator(".msg.assistant .sources a").first
    expect(source).to_be_visible(timeout=WAIT)
    expect(dialog.locator(".notice").first).to_be_visible(timeout=WAIT)

    # The bot cited this payload's article, so the source is named by the payload.
    assert [c["title"] for c in chat.citations] == [payload.text]
    assert text_of(source) == literal(payload.text)
    expect(dialog.locator(".msg.assistant a.cite").first).to_have_attribute("title", payload.text)
    assert text_of(dialog.locator(".msg.customer .bubble").first) == literal(payload.question)
    # The answer greets the customer by the name's first word and quotes the article's sentence.
    answer = text_of(dialog.locator(".msg.assistant .bubble").first)
    assert answer.startswith(f"Hi {literal(payload.text).split(' ')[0]}"), answer
    assert f"calibrate the {payload.topic} sensor" in answer
    # The shop page names the signed-in customer too.
    assert text_of(page.locator(".who strong")) == literal(payload.text)
    no_findings(watch.findings(), f"widget, {payload.id} ({payload.kind})")


@pytest.mark.parametrize("where", ["widget", "console"])
def test_nothing_ran_while_messages_and_escalations_arrived_live(corpus, where):
    no_findings(corpus.live_findings[where], f"{where} while messages, escalations and replies arrived live")


def test_widget_shows_every_payload_from_the_customer_and_the_agent_as_text(corpus, widget):
    page, watch = widget
    page.goto(f"{corpus.base}/demo/?as={ALL_CUSTOMER['external_id']}")
    widget_open(page)
    dialog = page.get_by_role("dialog")
    agent_bubble = dialog.locator(".msg.agent .bubble")
    expect(agent_bubble).to_be_visible(timeout=WAIT)
    own = text_of(dialog.locator(".msg.customer .bubble").first)
    # The agent's reply goes through the widget's Markdown subset: links, emphasis, lists.
    reply = text_of(agent_bubble)
    missing = [
        (p.id, where)
        for p in PAYLOADS
        for where, text in (("own", own), ("agent", reply))
        if literal(p.text) not in text
    ]
    assert not missing, f"not shown as literal text: {missing}"
    assert dialog.locator(".msg.agent .bubble a").count() == 0, "a payload became a link"
    no_findings(watch.findings(), "widget, all payloads")


# ------------------------------------------------------------------ the agent console


@pytest.fixture(scope="module")
def console(browser, corpus):
    context = context_for(browser)
    page, watch = new_page(context)
    console_login(page, corpus.base)
    yield page, watch
    context.close()


def test_console_queue_lists_every_payload_name_as_text(corpus, console):
    page, watch = console
    # Only the corpus's customers (all @example.test), then every page of them.
    page.locator("#f-search").fill("example.test")
    expect(page.locator("#queue-count")).to_have_text(str(len(PAYLOADS) + 1), timeout=WAIT)
    rows = page.locator("#queue-list [data-conversation-id]")
    while page.locator("#queue-more").is_visible():
        count = rows.count()
        page.locator("#queue-more").click()
        expect(rows).not_to_have_count(count, timeout=WAIT)
    expect(rows).to_have_count(len(PAYLOADS) + 1)
    wrong = []
    for payload in PAYLOADS:
        row = page.locator(f'#queue-list [data-conversation-id="{corpus.chats[payload.id].pk}"]')
        name = text_of(row.locator(".row-name")) if row.count() else "(no row)"
        if name != literal(payload.text):
            wrong.append((payload.id, name))
    assert not wrong
    no_findings(watch.findings(), "console queue")


@pytest.mark.parametrize("payload", cells("console"))
def test_console_conversation_shows_the_payload_as_text(corpus, console, payload):
    page, watch = console
    chat = corpus.chats[payload.id]
    page.evaluate("id => { location.hash = 'c=' + id; }", chat.pk)
    transcript = page.locator("#transcript")
    expect(transcript.locator(".msg").first).to_be_visible(timeout=WAIT)
    expect(page.locator("#conv-title")).to_contain_text(payload.text, timeout=WAIT)
    expect(transcript).to_contain_text(f"calibrate the {payload.topic} sensor", timeout=WAIT)
    text = text_of(transcript)
    assert literal(payload.question) in text
    # The bot's answer greets by first name, quotes the article and lists it by the payload title.
    assert f"Hi {literal(payload.text).split(' ')[0]}" in text
    assert text_of(transcript.locator(".msg-sources li").first) == literal(f"[1] {payload.text}")
    panel = page.locator("#copilot-body")
    expect(panel.locator(".card-customer")).to_contain_text(literal(payload.text), timeout=WAIT)
    assert literal(payload.text) in text_of(panel)
    no_findings(watch.findings(), f"console, {payload.id} ({payload.kind})")


def test_console_conversation_with_every_payload(corpus, console, screenshots):
    page, watch = console
    page.evaluate("id => { location.hash = 'c=' + id; }", corpus.all_pk)
    transcript = page.locator("#transcript")
    expect(page.locator("#conv-title")).to_contain_text(ALL_CUSTOMER["name"], timeout=WAIT)
    expect(transcript.locator(".msg-note")).to_have_count(1, timeout=WAIT)
    missing = []
    for kind in ("customer", "agent", "note"):
        text = text_of(transcript.locator(f".msg-{kind} .msg-body").first)
        missing += [(p.id, kind) for p in PAYLOADS if literal(p.text) not in text]
    assert not missing, f"not shown as literal text: {missing}"
    # The copilot's suggested reply quotes the conversation; it lands in the composer as text.
    page.locator("#act-suggest").click()
    expect(page.locator("#composer-text")).not_to_have_value("", timeout=WAIT)
    page.screenshot(path=screenshots / "xss-console.png")
    no_findings(watch.findings(), "console, all payloads")


def test_the_detector_reports_markup_the_console_csp_blocked(corpus, console):
    """On a page with a CSP an injected handler cannot run; the violation and the image request still show."""
    page, watch = console
    payload = BY_ID["p02"]
    page.evaluate(
        "text => { const box = document.createElement('div'); box.id = 'careless'; box.innerHTML = text;"
        " document.body.append(box); }",
        payload.text,
    )
    page.wait_for_timeout(300)
    found = watch.findings()
    page.evaluate("() => document.getElementById('careless').remove()")
    watch.findings()
    assert page.evaluate("window.__xss") == []
    assert any(f.startswith("CSP violation: script-src") for f in found), found
    assert any(f.startswith("injected image requested") for f in found), found
    assert any(f.startswith("markup injected") and "xss-p02" in f for f in found), found


def test_analytics_lists_payload_gap_questions_as_text_and_draws_its_charts(corpus, console, screenshots):
    page = console[0].context.new_page()
    watch = Watch(page)
    page.goto(f"{corpus.base}/console/analytics/")
    expect(page.locator(".gaps-table")).to_be_visible(timeout=WAIT)
    assert page.evaluate("() => Object.keys(Chart.instances).length") == 7
    questions = [text_of(cell) for cell in page.locator(".gaps-table tbody td:first-child").all()]
    expected = {literal(gap_question(p)) for p in PAYLOADS}
    # Gaps the corpus's own chats left are customer messages too (a long one cut at 1,000 characters).
    asked = {literal(p.question) for p in PAYLOADS} | {literal(ALL_TEXT)}
    shown = [question for question in questions if payload_ids(question)]
    assert len([question for question in shown if question in expected]) >= 5, questions
    garbled = [q for q in shown if q not in expected and q not in asked and not literal(ALL_TEXT).startswith(q)]
    assert garbled == []
    page.screenshot(path=screenshots / "xss-analytics.png", full_page=True)
    no_findings(watch.findings(), "analytics")
    page.close()


# ------------------------------------------------------------------ the help centre


@pytest.fixture(scope="module")
def reader(browser, corpus):
    context = context_for(browser)
    page, watch = new_page(context)
    yield page, watch
    context.close()


def test_help_centre_lists_every_payload_title_as_text(corpus, reader):
    page, watch = reader
    page.goto(f"{corpus.base}/help/")
    section = page.locator(f'section[aria-labelledby="helpCategory-{CATEGORY["slug"]}"]')
    expect(section).to_be_visible(timeout=WAIT)
    assert text_of(section.locator("h2")) == literal(CATEGORY["name"])
    assert text_of(section.locator(".help-category-description")) == literal(CATEGORY["description"])
    titles = [literal(t) for t in section.locator(".help-article-list a").all_inner_texts()]
    assert sorted(titles) == sorted(literal(p.text) for p in PAYLOADS)
    no_findings(watch.findings(), "help centre index")


@pytest.mark.parametrize("payload", cells("help-article"))
def test_help_article_shows_the_title_as_text_and_sanitizes_the_body(corpus, reader, payload):
    page, watch = reader
    response = page.goto(f"{corpus.base}/help/{payload.slug}/")
    assert response.status == 200
    assert text_of(page.locator("h1#helpArticleTitle")) == literal(payload.text)
    assert page.title() == f"{payload.text} · Help centre"
    body = page.locator(".help-body")
    # The paragraphs around the payload rendered, so the body went through Markdown and the sanitizer.
    expect(body).to_contain_text(f"{payload.id}-rendered")
    expect(body).to_contain_text(f"calibrate the {payload.topic} sensor")
    assert text_of(page.locator(".help-breadcrumb")).endswith(literal(CATEGORY["name"]))
    no_findings(watch.findings(), f"help article, {payload.id} ({payload.kind})")


@pytest.mark.parametrize("payload", cells("help-search"))
def test_help_search_echoes_the_query_and_lists_the_title_as_text(corpus, reader, payload):
    page, watch = reader
    query = f"{payload.topic} {payload.text}"
    page.goto(f"{corpus.base}/help/search/?" + urllib.parse.urlencode({"q": query}))
    expect(page.locator("#helpQuery")).to_have_value(query)
    assert page.title() == f"“{query}” · Search · Help centre"
    hits = [literal(t) for t in page.locator(".help-hit-title").all_inner_texts()]
    assert literal(payload.text) in hits, hits
    results = text_of(page.locator(".help-results"))
    assert f"“{literal(query)}”" in results or "Closest articles" in results
    no_findings(watch.findings(), f"help search, {payload.id} ({payload.kind})")


# ------------------------------------------------------------------ the admin


@pytest.fixture(scope="module")
def admin(browser, corpus):
    context = context_for(browser)
    page, watch = new_page(context)
    admin_login(page, corpus.base)
    no_findings(watch.findings(), "admin login")
    yield page, watch
    context.close()


def first_word(text: str) -> str:
    return literal(text).split(" ")[0]


CHANGELISTS = {
    # path -> the text each payload's row shows
    "/admin/crm/customer/?q=example.test": lambda p: literal(p.text),
    "/admin/helpdesk/conversation/?q=example.test": lambda p: literal(f"{p.text} ({p.external_id})"),
    "/admin/helpdesk/ticket/?q=example.test": lambda p: literal(f"{p.text} ({p.external_id})"),
    # Messages show their first 80 characters.
    "/admin/helpdesk/message/?q=calibrate&role__exact=customer": lambda p: literal(p.question)[:60],
    "/admin/helpdesk/message/?q=calibrate&role__exact=assistant": lambda p: f"Hi {first_word(p.text)},",
    "/admin/knowledge/article/?q=sensor": lambda p: literal(p.text),
    "/admin/knowledge/category/?q=xss": lambda p: "",
    "/admin/knowledge/knowledgegap/": lambda p: "",
}


@pytest.mark.parametrize("path", list(CHANGELISTS))
def test_admin_change_list_shows_every_payload_as_text(corpus, admin, path):
    page, watch = admin
    page.goto(corpus.base + path)
    expect(page.locator("#changelist")).to_be_visible(timeout=WAIT)
    text = literal(page.locator("#changelist").inner_text())
    missing = [p.id for p in PAYLOADS if CHANGELISTS[path](p) not in text]
    assert not missing, f"not shown as literal text on {path}: {missing}"
    if "category" in path:
        assert literal(CATEGORY["name"]) in text
    no_findings(watch.findings(), f"admin {path}")


@pytest.fixture(scope="module")
def change_forms(corpus, admin) -> dict[tuple[str, str], str]:
    """(model, payload id) -> change form URL, read off the changelists' links as a curator would click them."""
    page, watch = admin
    links = {}
    for model, changelist in (
        ("customer", "/admin/crm/customer/?q=example.test"),
        ("article", "/admin/knowledge/article/?q=sensor"),
    ):
        page.goto(corpus.base + changelist)
        rows = page.locator("#result_list tbody th a")
        expect(rows.first).to_be_visible(timeout=WAIT)
        by_text = {literal(rows.nth(i).inner_text()): rows.nth(i).get_attribute("href") for i in range(rows.count())}
        for payload in PAYLOADS:
            links[(model, payload.id)] = corpus.base + by_text[literal(payload.text)]
    no_findings(watch.findings(), "admin changelists")
    return links


@pytest.mark.parametrize("payload", cells("admin-customer"))
def test_admin_customer_form_keeps_the_name_as_a_value(corpus, admin, change_forms, payload):
    page, watch = admin
    page.goto(change_forms[("customer", payload.id)])
    expect(page.locator("#id_name")).to_have_value(payload.text, timeout=WAIT)
    label = f"{payload.text} ({payload.external_id})"
    assert text_of(page.locator("#content h2").first) == literal(label)
    assert text_of(page.locator("div.breadcrumbs")).endswith(literal(label))
    assert page.title().startswith(f"{label} | Change customer")
    no_findings(watch.findings(), f"admin customer form, {payload.id} ({payload.kind})")


@pytest.mark.parametrize("payload", cells("admin-article"))
def test_admin_article_form_keeps_title_and_body_as_values(corpus, admin, change_forms, payload):
    page, watch = admin
    page.goto(change_forms[("article", payload.id)])
    expect(page.locator("#id_title")).to_have_value(payload.text, timeout=WAIT)
    # The admin form strips the body it saves; the service path keeps the final newline.
    assert page.locator("#id_body").input_value().strip() == payload.article_body.strip()
    assert text_of(page.locator("div.breadcrumbs")).endswith(literal(f"{payload.text} [en]"))
    # The preview is the help centre's sanitized rendering, drawn by the server for a saved article.
    expect(page.locator(".kb-preview")).to_contain_text(f"{payload.id}-rendered")
    no_findings(watch.findings(), f"admin article form, {payload.id} ({payload.kind})")


def test_admin_live_preview_renders_every_payload_sanitized(corpus, admin):
    """While a curator types, admin_preview.js puts the server's sanitized HTML in with innerHTML."""
    page, watch = admin
    page.goto(f"{corpus.base}/admin/knowledge/article/add/")
    page.fill("#id_body", "Every payload, marker all-rendered.\n\n" + "\n\n".join(p.text for p in PAYLOADS))
    preview = page.locator(".kb-preview")
    expect(preview).to_contain_text("all-rendered", timeout=WAIT)
    no_findings(watch.findings(), "admin live preview, all payloads")


def test_admin_try_retrieval_shows_titles_and_passages_as_text(corpus, admin):
    """The curators' search page echoes the question and prints hit titles and raw chunk text."""
    page, watch = admin
    question = " ".join(p.text for p in PAYLOADS)[:500]
    query = urllib.parse.urlencode({"q": question, "locale": "en", "category": CATEGORY["slug"], "limit": 20})
    page.goto(f"{corpus.base}/admin/knowledge/article/try-retrieval/?{query}")
    expect(page.locator("#id_q")).to_have_value(question, timeout=WAIT)
    hits = page.locator("table.retrieval-results tbody tr")
    expect(hits).to_have_count(20, timeout=WAIT)
    titles = {literal(p.text) for p in PAYLOADS}
    shown = [literal(hits.nth(i).locator("td a").inner_text()) for i in range(20)]
    assert set(shown) <= titles, set(shown) - titles
    # Each row's passage is the article's Markdown, its payload included, printed as text.
    passages = [literal(hits.nth(i).locator("td small").last.inner_text()) for i in range(20)]
    assert all(title in passage for title, passage in zip(shown, passages, strict=True))
    no_findings(watch.findings(), "admin try retrieval")


def test_admin_conversation_form_with_every_payload(corpus, admin):
    page, watch = admin
    page.goto(f"{corpus.base}/admin/helpdesk/conversation/{corpus.all_pk}/change/")
    contents = page.locator("textarea[name$='-content']")
    expect(contents.first).to_be_visible(timeout=WAIT)
    values = [contents.nth(i).input_value() for i in range(contents.count())]
    # The customer's message, the agent's reply and the note each hold the whole corpus.
    assert values.count(ALL_TEXT) == 3, [v[:40] for v in values]
    no_findings(watch.findings(), "admin conversation form, all payloads")
