"""The whole live-chat flow in a real browser: a customer on /demo/ and an agent on /console/.

1. The customer asks a knowledge-base question and sees a streamed answer with a citation link.
2. The customer asks for a human.
3. The agent, in a second browser context, sees the ticket arrive without a reload and takes over.
4. The agent replies; the customer sees it while the bot stays silent.
5. The agent resolves; the customer rates.
"""

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import server_python

pytestmark = pytest.mark.e2e

WAIT = 20_000


def open_widget(page: Page, url: str) -> None:
    page.goto(url)
    page.locator("[part=launcher]").click()
    expect(page.get_by_role("dialog")).to_be_visible(timeout=WAIT)


def send(page: Page, text: str) -> None:
    box = page.locator("[part=input]")
    box.fill(text)
    box.press("Enter")


def test_customer_and_agent_through_a_human_takeover(browser, live_server_url, screenshots):
    customer_context = browser.new_context(viewport={"width": 1280, "height": 800})
    agent_context = browser.new_context(viewport={"width": 1280, "height": 800})
    customer = customer_context.new_page()
    agent = agent_context.new_page()
    # A script that runs would set this flag; nothing the customer types may run.
    customer.add_init_script("window.__xss = false;")
    agent.add_init_script("window.__xss = false;")
    # Both pages run under a Content-Security-Policy; anything it blocks shows up here.
    blocked = []

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            blocked.append((message.location.get("url"), message.text[:120]))

    for page in (customer, agent):
        page.on("console", on_console)

    # The agent is at the console first, so the escalation arrives live.
    agent.goto(f"{live_server_url}/console/")
    agent.get_by_label("Username").fill("jana")
    agent.get_by_label("Password").fill("agent-demo-pass")
    agent.get_by_role("button", name=re.compile("Sign in|Log in", re.I)).click()
    expect(agent).to_have_url(re.compile(r"/console/"), timeout=WAIT)

    # 1. A knowledge-base question: a streamed answer with a citation to the help centre.
    open_widget(customer, f"{live_server_url}/demo/?as=cus_1007")
    send(customer, "How do I reset my password?")
    dialog = customer.get_by_role("dialog")
    citation = dialog.locator("a.cite").first
    expect(citation).to_be_visible(timeout=WAIT)
    expect(citation).to_have_attribute("href", re.compile(r"/help/.*reset-password"))
    expect(dialog).to_contain_text(re.compile("password", re.I))
    customer.screenshot(path=screenshots / "e2e-1-widget-answer.png")

    # An attempt at script injection is shown as text, in the widget and later in the console.
    send(customer, '<img src=x onerror="window.__xss=true"> still need help')
    expect(dialog).to_contain_text('<img src=x onerror="window.__xss=true">', timeout=WAIT)

    # 2. Ask for a human.
    customer.locator("[part=human]").click()
    expect(dialog).to_contain_text(re.compile("agent|support team|queued", re.I), timeout=WAIT)

    # 3. The ticket appears in the agent's queue without a reload.
    row = agent.locator("[data-conversation-id]").filter(has_text="Emma Clarke").first
    expect(row).to_be_visible(timeout=WAIT)
    expect(row).to_contain_text(re.compile("ESC-", re.I))
    row.click()
    expect(agent.get_by_text("still need help").first).to_be_visible(timeout=WAIT)
    agent.screenshot(path=screenshots / "e2e-2-console-escalation.png")
    agent.get_by_role("button", name=re.compile("Take over", re.I)).click()
    expect(dialog).to_contain_text(re.compile("joined the chat", re.I), timeout=WAIT)

    # 4. The agent replies live; the bot stays silent.
    reply = agent.get_by_role("textbox", name=re.compile("Reply", re.I))
    reply.fill("Hi Emma, Jana here. I have reset the link for you.")
    reply.press("Enter")
    expect(dialog).to_contain_text("Jana here", timeout=WAIT)
    assistant_before = dialog.locator(".msg.assistant").count()
    send(customer, "Thank you Jana!")
    expect(agent.get_by_text("Thank you Jana!").first).to_be_visible(timeout=WAIT)
    customer.wait_for_timeout(1500)
    assert dialog.locator(".msg.assistant").count() == assistant_before
    customer.screenshot(path=screenshots / "e2e-3-widget-agent-reply.png")

    # 5. Resolve; the customer rates the conversation.
    agent.get_by_role("button", name=re.compile("Resolve", re.I)).click()
    customer.locator(".csat button[data-rating=up]").click()
    customer.locator(".csat button.primary").click()
    expect(dialog).to_contain_text("Thanks for your feedback", timeout=WAIT)
    customer.screenshot(path=screenshots / "e2e-4-widget-csat.png")
    agent.screenshot(path=screenshots / "e2e-5-console-resolved.png")

    assert customer.evaluate("window.__xss") is False
    assert agent.evaluate("window.__xss") is False
    assert blocked == []
    customer_context.close()
    agent_context.close()


def test_the_conversation_survives_a_reload(browser, live_server_url):
    context = browser.new_context()
    page = context.new_page()
    open_widget(page, f"{live_server_url}/demo/?as=cus_1008")
    send(page, "When will I get my refund?")
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".msg.assistant").first).to_be_visible(timeout=WAIT)
    # The bubble's longest line is the answer itself (the others are its label and time).
    answer = max(dialog.locator(".msg.assistant").first.inner_text().splitlines(), key=len)
    page.reload()
    if not page.get_by_role("dialog").is_visible():
        page.locator("[part=launcher]").click()
    expect(page.get_by_role("dialog")).to_contain_text("When will I get my refund?", timeout=WAIT)
    expect(page.get_by_role("dialog")).to_contain_text(answer[:40], timeout=WAIT)
    context.close()


def test_one_script_tag_embeds_the_widget_on_another_site(browser, live_server_url, shop_page, screenshots):
    context = browser.new_context()
    page = context.new_page()
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    open_widget(page, shop_page)
    send(page, "How do I reset my password?")
    dialog = page.get_by_role("dialog")
    citation = dialog.locator("a.cite").first
    expect(citation).to_be_visible(timeout=WAIT)
    # Citations lead to our help centre, not to the shop's site.
    expect(citation).to_have_attribute("href", re.compile(re.escape(live_server_url) + r"/help/.*reset-password"))
    page.screenshot(path=screenshots / "e2e-6-widget-on-another-site.png")
    page.reload()
    expect(page.get_by_role("dialog")).to_contain_text("How do I reset my password?", timeout=WAIT)
    assert problems == []
    context.close()


def test_the_console_needs_a_login(browser, live_server_url):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server_url}/console/")
    expect(page).to_have_url(re.compile(r"/console/login/"))
    context.close()


LINKED_CONVERSATION = """
from django.utils import timezone
from crm.models import Customer
from helpdesk.models import Conversation, Message
customer = Customer.objects.get(external_id="cus_1001")
conversation = Conversation.objects.create(
    customer=customer, language="en", status="resolved", resolved_at=timezone.now()
)
Message.objects.create(conversation=conversation, role="customer", content="A question from last month")
print(conversation.pk)
"""


def test_a_conversation_opened_by_link_names_its_customer_outside_the_queue(browser, live_server_url):
    conversation_id = server_python(LINKED_CONVERSATION).strip().splitlines()[-1]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server_url}/console/")
    page.get_by_label("Username").fill("jana")
    page.get_by_label("Password").fill("agent-demo-pass")
    page.get_by_role("button", name=re.compile("Sign in|Log in", re.I)).click()
    expect(page).to_have_url(re.compile(r"/console/$"), timeout=WAIT)
    # The queue's filters hide it, and its messages come before the rest of it: only the detail names the customer.
    empty = {"count": 0, "next": None, "previous": None, "results": []}
    page.route(re.compile(r".*/api/conversations(\?.*)?$"), lambda route: route.fulfill(json=empty))

    def detail_later(route) -> None:
        time.sleep(1.5)
        route.continue_()

    page.route(f"**/api/conversations/{conversation_id}", detail_later)
    page.goto(f"{live_server_url}/console/#c={conversation_id}")
    page.reload()
    author = page.locator("#transcript .msg-customer .msg-author")
    expect(author).to_have_text("Petr Svoboda", timeout=WAIT)
    expect(page.locator("#conv-title")).to_contain_text("Petr Svoboda")
    context.close()


def test_an_erased_customer_sees_the_couldnt_verify_banner(browser, live_server_url, screenshots):
    """Erasure ends access: the widget of an erased customer stops, with the same clear banner it
    shows for an identity it cannot verify, and what they type after is not stored."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    open_widget(page, f"{live_server_url}/demo/?as=cus_1016")
    identity_hash = page.locator("script[data-identity-hash]").get_attribute("data-identity-hash")
    dialog = page.get_by_role("dialog")
    send(page, "Do you ship to Ireland?")
    expect(dialog.locator(".msg.assistant").first).to_be_visible(timeout=WAIT)

    server_python(
        "from crm.models import Customer\n"
        "from helpdesk.services.retention import customer_erase\n"
        "customer_erase(customer=Customer.objects.get(external_id='cus_1016'), by=None)\n"
    )
    # This process's socket heard nothing of an erasure made elsewhere; its next message is refused.
    send(page, "My new address is 12 Baker Street")
    banner = dialog.locator(".banner")
    expect(banner).to_be_visible(timeout=WAIT)
    expect(banner).to_contain_text("We couldn't verify your account")
    expect(dialog.locator("[part=input]")).to_be_disabled()
    page.screenshot(path=screenshots / "e2e-erased-customer-banner.png")
    stored = server_python(
        "from helpdesk.models import Message\nprint(Message.objects.filter(content__contains='Baker Street').count())\n"
    )
    assert stored.strip() == "0"

    # The shop's pages still carry the old id and its genuine hash: the server refuses them too.
    again = httpx.post(
        f"{live_server_url}/api/widget/conversations",
        json={"customer_id": "cus_1016", "identity_hash": identity_hash},
        timeout=10,
    )
    assert again.status_code == 403
    context.close()
