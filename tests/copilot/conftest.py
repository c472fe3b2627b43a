import pytest
from django.contrib.auth import get_user_model

from crm.models import Customer, Product
from helpdesk.demo import demo_seed
from helpdesk.models import Conversation, Ticket
from knowledge.models import Article, Category, KnowledgeGap

# The demo articles the copilot tests need, English and Czech; embedding all 54 would
# cost half a minute, these take a few seconds.
KB_SLUGS = {
    "double-charge",
    "late-delivery",
    "lost-parcel",
    "returns-policy",
    "how-to-return-an-item",
    "how-to-file-a-warranty-claim",
    "track-your-order",
    "failed-payment-and-suspended-account",
    "reset-password",
    "order-statuses-explained",
    "refund-timelines",
    "jak-podat-reklamaci",
    "zpozdena-nebo-ztracena-zasilka",
    "stav-objednavky",
    "vraceni-zbozi-do-30-dnu",
    "platby-a-dvoji-strzeni-penez",
    "vyrizeni-reklamace-a-lhuty",
}


@pytest.fixture(scope="package")
def demo_shop(django_db_setup, django_db_blocker):
    """The demo shop (customers, orders, a knowledge-base subset), committed once for this package.

    Tests still run in their own rolled-back transactions on top of it. It is removed at
    the end so the other packages see the empty database they expect.
    """
    with django_db_blocker.unblock():
        demo_seed(kb_slugs=KB_SLUGS)
        # Embed the default taxonomy's examples once, instead of in the first test.
        from copilot.services import intent_classifier_get

        intent_classifier_get()
    yield
    with django_db_blocker.unblock():
        Conversation.objects.all().delete()
        Ticket.objects.all().delete()
        Customer.objects.all().delete()
        Product.objects.all().delete()
        Article.objects.all().delete()
        Category.objects.all().delete()
        KnowledgeGap.objects.all().delete()
        get_user_model().objects.all().delete()


@pytest.fixture
def shop(demo_shop, db):
    return demo_shop


@pytest.fixture
def petr(shop) -> Customer:
    """Petr Svoboda: Czech, gold tier, owner of the late order 12345."""
    return Customer.objects.get(external_id="cus_1001")
