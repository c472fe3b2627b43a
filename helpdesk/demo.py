"""The demo shop: customers, accounts, orders, agents, knowledge base and a few conversations.

``demo_seed`` is idempotent: every row is keyed by a natural id and upserted, so running
it twice gives the same counts. Dates are relative to the day it runs, so the demo
stays realistic ("shipped two days ago").
"""

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from crm.models import Account, Customer, Order, Product
from crm.services import OrderLine, account_upsert, customer_upsert, order_upsert, product_upsert
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.services import agent_upsert, conversation_resolve, conversation_start, message_add, ticket_escalate
from knowledge.importing import kb_import, kb_rows_read
from knowledge.services import category_upsert

DEMO_KB_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "demo_kb"

# Development-only credentials, printed by `make run`. seed_demo refuses to run
# unless DEMO_SEED_ALLOWED is on (it is by default only with DEBUG).
ADMIN = {"username": "admin", "password": "admin-demo-pass", "email": "admin@brightcart.example"}
AGENT_PASSWORD = "agent-demo-pass"  # noqa: S105
AGENTS = [
    ("jana", "Jana Nováková", "jana@brightcart.example"),
    ("marek", "Marek Dvořák", "marek@brightcart.example"),
    ("alice", "Alice Turner", "alice@brightcart.example"),
]

CATEGORIES = [
    ("ordering", "Ordering", "Placing, changing and cancelling orders"),
    ("shipping", "Shipping & delivery", "Delivery options, tracking and late or lost parcels"),
    ("returns", "Returns & complaints", "Returns, warranty claims (reklamace) and damaged goods"),
    ("billing", "Billing & refunds", "Payments, invoices, refunds and membership billing"),
    ("account", "Account & security", "Sign-in, passwords, two-factor authentication and privacy"),
    ("technical", "Technical help", "The website, the mobile app and Brightcart smart devices"),
]

PRODUCTS = [
    ("BC-1001", "Linen duvet cover", "home", "39.90"),
    ("BC-1002", "Ceramic pour-over coffee set", "home", "29.50"),
    ("BC-1003", "Cast-iron skillet 28 cm", "home", "44.00"),
    ("BC-2001", "USB-C charger 65 W", "electronics", "34.90"),
    ("BC-2002", "Wireless earbuds Aria", "electronics", "79.00"),
    ("BC-2003", "Brightcart smart plug", "electronics", "19.90"),
    ("BC-2004", "Brightcart smart bulb E27", "electronics", "14.90"),
    ("BC-3001", "Trail backpack 30 l", "outdoor", "89.00"),
    ("BC-3002", "Insulated bottle 750 ml", "outdoor", "24.90"),
    ("BC-3003", "Two-person tent Horizon", "outdoor", "219.00"),
    ("BC-4001", "Merino crew sweater", "clothing", "69.00"),
    ("BC-4002", "Rain jacket Drift", "clothing", "119.00"),
    ("BC-4003", "Organic cotton T-shirt", "clothing", "19.00"),
    ("BC-4004", "Wool hiking socks (3 pairs)", "clothing", "24.00"),
]
# Prices are kept in EUR; CZK orders use this fixed demo rate.
CZK_PER_EUR = Decimal("25")


@dataclass(frozen=True)
class DemoCustomer:
    external_id: str
    name: str
    email: str
    locale: str
    tier: str
    account_status: str
    subscription: str
    balance: str
    phone: str = ""


# fmt: off
CUSTOMERS = [
    DemoCustomer("cus_1001", "Petr Svoboda", "petr.svoboda@example.cz", "cs", "gold", "active", "premium", "0.00", "+420 601 234 567"),
    DemoCustomer("cus_1002", "Tereza Dvořáková", "tereza.dvorakova@example.cz", "cs", "standard", "active", "basic", "0.00"),
    DemoCustomer("cus_1003", "Lucie Černá", "lucie.cerna@example.cz", "cs", "standard", "refund_eligible", "premium", "149.00"),
    DemoCustomer("cus_1004", "Martin Procházka", "martin.prochazka@example.cz", "cs", "vip", "active", "premium", "0.00"),
    DemoCustomer("cus_1005", "Kateřina Veselá", "katerina.vesela@example.cz", "cs", "standard", "suspended", "basic", "-98.00"),
    DemoCustomer("cus_1006", "Tomáš Horák", "tomas.horak@example.cz", "cs", "standard", "active", "free", "0.00"),
    DemoCustomer("cus_1007", "Emma Clarke", "emma.clarke@example.co.uk", "en", "gold", "active", "premium", "0.00", "+44 7700 900123"),
    DemoCustomer("cus_1008", "Liam O'Brien", "liam.obrien@example.ie", "en", "standard", "active", "free", "0.00"),
    DemoCustomer("cus_1009", "Sofia Rossi", "sofia.rossi@example.it", "en", "standard", "refund_eligible", "basic", "2.00"),
    DemoCustomer("cus_1010", "Noah Fischer", "noah.fischer@example.com", "en", "standard", "active", "basic", "0.00"),
    DemoCustomer("cus_1011", "Olivia Martin", "olivia.martin@example.com", "en", "vip", "active", "premium", "0.00"),
    DemoCustomer("cus_1012", "Lukas Weber", "lukas.weber@example.de", "de", "standard", "active", "free", "0.00"),
    DemoCustomer("cus_1013", "Anna Ivanova", "anna.ivanova@example.com", "ru", "standard", "active", "free", "0.00"),
    DemoCustomer("cus_1014", "James Wilson", "james.wilson@example.com", "en", "standard", "suspended", "premium", "-6.00"),
    DemoCustomer("cus_1015", "Mia Johnson", "mia.johnson@example.com", "en", "gold", "active", "basic", "0.00"),
    DemoCustomer("cus_1016", "Ethan Brown", "ethan.brown@example.com", "en", "standard", "active", "free", "0.00"),
    DemoCustomer("cus_1017", "Chloe Dubois", "chloe.dubois@example.fr", "en", "standard", "active", "free", "0.00"),
    DemoCustomer("cus_1018", "Daniel Kim", "daniel.kim@example.com", "en", "standard", "refund_eligible", "premium", "6.00"),
    DemoCustomer("cus_1019", "Grace Taylor", "grace.taylor@example.co.uk", "en", "standard", "active", "basic", "0.00"),
    DemoCustomer("cus_1020", "Hannah Müller", "hannah.mueller@example.de", "de", "gold", "active", "premium", "0.00"),
]
# fmt: on

ORDER_COUNT = 60
# Order 12345 is the one the Czech demo conversation is about: shipped a week ago, late.
LATE_ORDER = "12345"
CARRIERS = {"cs": "PPL", "en": "UPS", "de": "DPD", "ru": "DPD"}
CURRENCIES = {"cs": "CZK", "de": "EUR", "ru": "EUR", "en": "EUR"}
STATUS_CYCLE = [
    Order.Status.DELIVERED,
    Order.Status.SHIPPED,
    Order.Status.DELIVERED,
    Order.Status.PROCESSING,
    Order.Status.PENDING,
    Order.Status.DELIVERED,
    Order.Status.CANCELLED,
    Order.Status.RETURNED,
    Order.Status.SHIPPED,
    Order.Status.DELIVERED,
]


def _demo_price(product: Product, currency: str) -> Decimal:
    return product.price * CZK_PER_EUR if currency == "CZK" else product.price


def _order_timeline(status: str, placed_at: datetime, rng: random.Random) -> dict:
    shipped = delivered = None
    if status in (Order.Status.SHIPPED, Order.Status.DELIVERED, Order.Status.RETURNED):
        shipped = placed_at + timedelta(hours=rng.randint(12, 40))
    if status in (Order.Status.DELIVERED, Order.Status.RETURNED):
        delivered = shipped + timedelta(days=rng.randint(1, 4))
    return {"shipped_at": shipped, "delivered_at": delivered}


def _seed_orders(*, customers: list[Customer], products: list[Product], now: datetime) -> int:
    rng = random.Random(2026)  # noqa: S311 (demo data, not security)
    numbers = [str(12301 + i) for i in range(ORDER_COUNT)]
    for index, number in enumerate(numbers):
        customer = customers[index % len(customers)]
        currency = CURRENCIES[customer.locale]
        status = STATUS_CYCLE[index % len(STATUS_CYCLE)]
        placed_at = now - timedelta(days=rng.randint(1, 75), hours=rng.randint(0, 23))
        if status == Order.Status.PENDING:
            placed_at = now - timedelta(hours=rng.randint(1, 30))
        picks = rng.sample(products, k=rng.randint(1, 3))
        quantities = [(p, rng.randint(1, 2)) for p in picks]
        timeline = _order_timeline(status, placed_at, rng)
        if number == LATE_ORDER:
            customer, currency, status = customers[0], "CZK", Order.Status.SHIPPED
            # Twelve days always hold at least eight business days: late under the written policy.
            placed_at = now - timedelta(days=13)
            timeline = {"shipped_at": now - timedelta(days=12), "delivered_at": None}
            quantities = [(products[7], 1), (products[8], 2)]
        lines = [OrderLine(product=p, quantity=qty, unit_price=_demo_price(p, currency)) for p, qty in quantities]
        shipped = timeline["shipped_at"] is not None
        order_upsert(
            number=number,
            customer=customer,
            status=status,
            currency=currency,
            placed_at=placed_at,
            lines=lines,
            shipping_total=Decimal("0.00") if currency == "CZK" else Decimal("4.00"),
            carrier=CARRIERS[customer.locale] if shipped else "",
            tracking_number=f"BC{number}{customer.pk:04d}" if shipped else "",
            **timeline,
        )
    return len(numbers)


def _seed_conversations(*, customers: dict[str, Customer], agents: list) -> None:
    """A few conversations so the admin and console open on something real."""
    script = [
        (
            "cus_1001",
            [
                ("customer", "Dobrý den, mám problém s mou objednávkou č. 12345"),
                ("assistant", "Dobrý den, Petře. Objednávka 12345 byla odeslána přes PPL a je na cestě."),
            ],
            None,
        ),
        (
            "cus_1014",
            [
                ("customer", "Why is my account suspended? I want to talk to a person."),
                ("assistant", "I'm sorry for the trouble, James. A colleague from billing will review your account."),
            ],
            (
                "Account suspended: customer asks for a human",
                "explicit human request; account needs manual review",
                "high",
            ),
        ),
        (
            "cus_1007",
            [
                ("customer", "How long do refunds take after you receive my return?"),
                ("assistant", "Refunds are issued within 5 business days after your return reaches our warehouse [1]."),
            ],
            "resolved",
        ),
    ]
    for index, (external_id, lines, outcome) in enumerate(script):
        customer = customers[external_id]
        conversation = Conversation.objects.filter(customer=customer, subject=f"demo-{index}").first()
        if conversation is None:
            conversation = conversation_start(customer=customer)
            conversation.subject = f"demo-{index}"
            conversation.save(update_fields=["subject"])
        for number, (role, text) in enumerate(lines):
            message_add(conversation=conversation, role=role, content=text, client_message_id=f"demo-{index}-{number}")
        if isinstance(outcome, tuple):
            subject, reason, priority = outcome
            ticket_escalate(conversation=conversation, subject=subject, reason=reason, priority=priority)
        elif outcome == "resolved" and conversation.status != Conversation.Status.RESOLVED:
            conversation_resolve(conversation=conversation, by=agents[2])


@transaction.atomic
def demo_seed(*, now: datetime | None = None, kb_slugs: Collection[str] | None = None) -> dict[str, int]:
    """Seed the demo shop; ``kb_slugs`` limits the knowledge base to those articles (for tests)."""
    now = now or timezone.now()
    user_model = get_user_model()
    admin, _ = user_model.objects.update_or_create(
        username=ADMIN["username"],
        defaults={"email": ADMIN["email"], "is_staff": True, "is_superuser": True, "is_active": True},
    )
    admin.set_password(ADMIN["password"])
    admin.save(update_fields=["password"])
    agents = [agent_upsert(username=u, email=e, display_name=n, password=AGENT_PASSWORD) for u, n, e in AGENTS]

    customers = {}
    for c in CUSTOMERS:
        customer = customer_upsert(
            external_id=c.external_id,
            name=c.name,
            email=c.email,
            phone=c.phone,
            tier=c.tier,
            locale=c.locale,
            address={"city": "Praha" if c.locale == "cs" else "", "country": "CZ" if c.locale == "cs" else ""},
        )
        currency = "CZK" if c.locale == "cs" else "EUR"
        fee = {"free": None, "basic": Decimal("2.00"), "premium": Decimal("6.00")}[c.subscription]
        if fee is not None and currency == "CZK":
            fee = Decimal("49.00") if c.subscription == "basic" else Decimal("149.00")
        account_upsert(
            customer=customer,
            number=f"ACC-{c.external_id.split('_')[1]}",
            status=c.account_status,
            subscription_tier=c.subscription,
            balance=Decimal(c.balance),
            currency=currency,
            last_payment_at=(now - timedelta(days=12)) if fee else None,
            last_payment_amount=fee,
        )
        customers[c.external_id] = customer

    products = [
        product_upsert(sku=sku, name=name, category=category, price=Decimal(price), currency="EUR")
        for sku, name, category, price in PRODUCTS
    ]
    order_count = _seed_orders(customers=list(customers.values()), products=products, now=now)

    for position, (slug, name, description) in enumerate(CATEGORIES):
        category_upsert(slug=slug, name=name, description=description, position=position)
    rows = kb_rows_read(path=DEMO_KB_DIR)
    if kb_slugs is not None:
        rows = [row for row in rows if getattr(row, "slug", None) in kb_slugs]
    report = kb_import(rows=rows)
    if report.problems:
        raise ValueError(f"The demo knowledge base has bad files: {report.problems}")

    _seed_conversations(customers=customers, agents=agents)
    return {
        "customers": len(customers),
        "accounts": Account.objects.filter(customer__in=customers.values()).count(),
        "products": len(products),
        "orders": order_count,
        "agents": len(agents),
        "articles": report.created + report.updated + report.unchanged,
        "conversations": Conversation.objects.filter(subject__startswith="demo-").count(),
        "messages": Message.objects.filter(conversation__subject__startswith="demo-").count(),
        "tickets": Ticket.objects.filter(conversation__subject__startswith="demo-").count(),
    }


def demo_seed_allowed() -> bool:
    return settings.DEMO_SEED_ALLOWED
