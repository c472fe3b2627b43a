from datetime import timedelta
from decimal import Decimal

import factory
import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import Account, Customer, Order, OrderItem, Product
from helpdesk.models import AgentProfile, Conversation, Message, Ticket
from integrations.models import WebhookEndpoint, WebhookEvent
from knowledge.models import EMBEDDING_DIMENSIONS, Article, ArticleChunk, Category, KnowledgeGap


def unit_vector(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).standard_normal(EMBEDDING_DIMENSIONS)
    return (vector / np.linalg.norm(vector)).tolist()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class AgentProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentProfile

    user = factory.SubFactory(UserFactory)
    display_name = factory.Sequence(lambda n: f"Agent {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"ext_{n}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    locale = "en"


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"ACC-{n:05d}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("10.00")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: str(50000 + n))
    customer = factory.SubFactory(CustomerFactory)
    status = Order.Status.PROCESSING
    placed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=3))
    subtotal = Decimal("10.00")
    total = Decimal("10.00")


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    sku = factory.SelfAttribute("product.sku")
    name = factory.SelfAttribute("product.name")
    unit_price = factory.SelfAttribute("product.price")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    customer = factory.SubFactory(CustomerFactory)
    # As if the customer had written; the agents' queue leaves out conversations nobody spoke in.
    last_message_at = factory.LazyFunction(timezone.now)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.CUSTOMER
    content = factory.Sequence(lambda n: f"Message {n}")


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    conversation = factory.SubFactory(ConversationFactory)
    customer = factory.SelfAttribute("conversation.customer")
    kind = Ticket.Kind.ESCALATION
    subject = "Customer asks for a human"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"category-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Article

    title = factory.Sequence(lambda n: f"Article {n}")
    slug = factory.Sequence(lambda n: f"article-{n}")
    body = "Intro.\n\n## Section\nText."
    category = factory.SubFactory(CategoryFactory)
    status = Article.Status.PUBLISHED
    published_at = factory.LazyFunction(timezone.now)


class ArticleChunkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ArticleChunk

    article = factory.SubFactory(ArticleFactory)
    ordinal = factory.Sequence(int)
    text = "Chunk text."
    embedding = factory.Sequence(unit_vector)
    embedding_model = "test-model"


class KnowledgeGapFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KnowledgeGap

    question = factory.Sequence(lambda n: f"Unanswered question {n}?")
    embedding = factory.Sequence(unit_vector)
    best_confidence = 0.2
    last_seen_at = factory.LazyFunction(timezone.now)


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    name = factory.Sequence(lambda n: f"Receiver {n}")
    url = "http://127.0.0.1:9/hooks"
    secret = "test-secret-of-the-receiver"
    events = factory.LazyFunction(lambda: [event.value for event in WebhookEvent])
