import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from crm.models import Account, Customer, Order, OrderItem, Product
from helpdesk.demo import demo_seed
from helpdesk.models import AgentProfile, Conversation, Message, Ticket
from helpdesk.services.retention import customer_erase
from knowledge.models import Article, ArticleChunk, Category

pytestmark = pytest.mark.django_db

MODELS = [
    get_user_model(),
    AgentProfile,
    Customer,
    Account,
    Product,
    Order,
    OrderItem,
    Conversation,
    Message,
    Ticket,
    Category,
    Article,
    ArticleChunk,
]


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def test_seed_demo_twice_gives_the_same_rows(django_capture_on_commit_callbacks, capsys):
    # Seeding embeds the whole demo knowledge base (about 30 s here), so one test
    # seeds twice and then checks the content.
    # Two days of past conversations: enough to see the history made once (tests/copilot/test_demo_history.py has more).
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--history-days", "2")
    first = counts()
    first_chunk_ids = set(ArticleChunk.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--history-days", "2")
    assert counts() == first
    # Nothing changed, so nothing was re-embedded.
    assert set(ArticleChunk.objects.values_list("pk", flat=True)) == first_chunk_ids
    assert "admin / admin-demo-pass" in capsys.readouterr().out

    check_demo_shop_has_what_the_brief_promises()
    check_demo_order_12345_is_the_late_czech_order()
    check_demo_has_an_open_escalation_waiting_for_a_human()


def check_demo_shop_has_what_the_brief_promises():
    assert Customer.objects.count() >= 20
    assert Customer.objects.filter(locale="cs").count() >= 5
    assert set(Account.objects.values_list("status", flat=True)) == set(Account.Status.values)
    assert Order.objects.count() >= 60
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values)
    assert AgentProfile.objects.count() == 3
    assert get_user_model().objects.filter(is_superuser=True, username="admin").exists()
    published = Article.objects.filter(status=Article.Status.PUBLISHED)
    assert published.filter(locale="en").count() >= 30
    assert published.filter(locale="cs").count() >= 8
    assert set(Category.objects.values_list("slug", flat=True)) >= {
        "ordering",
        "shipping",
        "returns",
        "billing",
        "account",
        "technical",
    }
    assert published.filter(locale="cs", body__icontains="reklamac").exists()
    # Every article got indexed.
    assert not Article.objects.filter(chunks__isnull=True).exists()


def check_demo_order_12345_is_the_late_czech_order():
    order = Order.objects.select_related("customer").get(number="12345")
    assert order.customer.locale == "cs"
    assert order.status == Order.Status.SHIPPED
    assert order.delivered_at is None
    assert order.items.count() == 2
    assert order.total == sum(item.line_total for item in order.items.all()) + order.shipping_total


def check_demo_has_an_open_escalation_waiting_for_a_human():
    ticket = Ticket.objects.get(status=Ticket.Status.OPEN)
    assert ticket.kind == Ticket.Kind.ESCALATION
    assert ticket.conversation.status == Conversation.Status.PENDING_HUMAN


def test_seed_demo_refuses_without_permission(settings):
    settings.DEMO_SEED_ALLOWED = False
    with pytest.raises(CommandError, match="DEMO_SEED_ALLOWED"):
        call_command("seed_demo")
    assert Customer.objects.count() == 0


def test_seed_demo_runs_again_after_a_demo_customer_was_erased(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        demo_seed(kb_slugs=[])
    erased = Customer.objects.get(external_id="cus_1001")
    customer_erase(customer=erased, by=None)
    with django_capture_on_commit_callbacks(execute=True):
        demo_seed(kb_slugs=[])
    erased.refresh_from_db()
    # The erased record stays erased: nothing of the demo person is written back into it.
    assert (erased.name, erased.email, erased.external_id) == ("Erased customer", "", f"erased-{erased.pk}")
    assert erased.account.number == f"erased-{erased.pk}"
    # The demo shop has its customer again, as a new record with its account.
    fresh = Customer.objects.get(external_id="cus_1001")
    assert fresh.pk != erased.pk
    assert fresh.account.number == "ACC-1001"
