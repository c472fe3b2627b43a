import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from crm.models import Account, Customer, Order, OrderItem, Product


@dataclass(frozen=True)
class OrderLine:
    product: Product
    quantity: int
    unit_price: Decimal


def customer_upsert(
    *,
    external_id: str,
    name: str,
    email: str = "",
    phone: str = "",
    tier: str = Customer.Tier.STANDARD,
    locale: str = "en",
    address: dict | None = None,
) -> Customer:
    customer, _ = Customer.objects.update_or_create(
        external_id=external_id,
        defaults={
            "name": name,
            "email": email,
            "phone": phone,
            "tier": tier,
            "locale": locale,
            "address": address or {},
        },
    )
    return customer


def account_upsert(
    *,
    customer: Customer,
    number: str,
    status: str = Account.Status.ACTIVE,
    subscription_tier: str = Account.SubscriptionTier.FREE,
    balance: Decimal = Decimal("0.00"),
    currency: str = "EUR",
    last_payment_at: datetime | None = None,
    last_payment_amount: Decimal | None = None,
) -> Account:
    account, _ = Account.objects.update_or_create(
        customer=customer,
        defaults={
            "number": number,
            "status": status,
            "subscription_tier": subscription_tier,
            "balance": balance,
            "currency": currency,
            "last_payment_at": last_payment_at,
            "last_payment_amount": last_payment_amount,
        },
    )
    return account


def product_upsert(
    *,
    sku: str,
    name: str,
    price: Decimal,
    currency: str = "EUR",
    category: str = "",
    description: str = "",
    attributes: dict | None = None,
    is_active: bool = True,
) -> Product:
    product, _ = Product.objects.update_or_create(
        sku=sku,
        defaults={
            "name": name,
            "price": price,
            "currency": currency,
            "category": category,
            "description": description,
            "attributes": attributes or {},
            "is_active": is_active,
        },
    )
    return product


@transaction.atomic
def order_upsert(
    *,
    number: str,
    customer: Customer,
    status: str,
    currency: str,
    placed_at: datetime,
    lines: list[OrderLine],
    shipping_total: Decimal = Decimal("0.00"),
    shipped_at: datetime | None = None,
    delivered_at: datetime | None = None,
    carrier: str = "",
    tracking_number: str = "",
    shipping_address: dict | None = None,
) -> Order:
    """Create or replace an order and its lines; totals are computed from the lines."""
    if not lines:
        raise ValueError(f"Order {number} needs at least one line")
    subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))
    order, _ = Order.objects.update_or_create(
        number=number,
        defaults={
            "customer": customer,
            "status": status,
            "currency": currency,
            "subtotal": subtotal,
            "shipping_total": shipping_total,
            "tax_total": Decimal("0.00"),
            "total": subtotal + shipping_total,
            "placed_at": placed_at,
            "shipped_at": shipped_at,
            "delivered_at": delivered_at,
            "carrier": carrier,
            "tracking_number": tracking_number,
            "shipping_address": shipping_address or customer.address,
        },
    )
    order.items.all().delete()
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product=line.product,
            sku=line.product.sku,
            name=line.product.name,
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for line in lines
    )
    return order


# tau-bench retail import -------------------------------------------------------------

TAU_STATUS = {
    "pending": Order.Status.PENDING,
    "processed": Order.Status.PROCESSING,
    "delivered": Order.Status.DELIVERED,
    "cancelled": Order.Status.CANCELLED,
}


def _stable_days(key: str, modulo: int) -> int:
    # The dataset has no dates; derive them from the id so re-imports give the same rows.
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % modulo


def _tau_order_dates(order_id: str, status: str, now: datetime) -> dict[str, datetime | None]:
    placed = now - timedelta(days=1 + _stable_days(order_id, 120), hours=_stable_days(order_id + "h", 24))
    if status == Order.Status.PENDING:
        placed = now - timedelta(hours=1 + _stable_days(order_id, 48))
    shipped = delivered = None
    if status == Order.Status.DELIVERED:
        shipped = placed + timedelta(days=1)
        delivered = shipped + timedelta(days=2 + _stable_days(order_id + "d", 4))
    return {"placed_at": placed, "shipped_at": shipped, "delivered_at": delivered}


@transaction.atomic
def tau_retail_import(*, data: dict[str, Any], now: datetime) -> dict[str, int]:
    """Load the tau-bench retail database (users, products, orders) into the CRM.

    Idempotent: rows are keyed by the dataset's ids, and order lines are replaced.
    """
    unknown = set(data) - {"users", "orders", "products"}
    missing = {"users", "orders", "products"} - set(data)
    if missing:
        raise ValueError(f"Not a tau-bench retail database: missing {sorted(missing)}")
    if unknown:
        raise ValueError(f"Not a tau-bench retail database: unexpected keys {sorted(unknown)}")

    products = [
        Product(
            sku=variant["item_id"],
            name=product["name"],
            category=product["name"],
            price=Decimal(str(variant["price"])),
            currency="USD",
            attributes={"product_id": product["product_id"], **variant["options"]},
            is_active=bool(variant["available"]),
        )
        for product in data["products"].values()
        for variant in product["variants"].values()
    ]
    Product.objects.bulk_create(
        products,
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=["name", "category", "price", "currency", "attributes", "is_active"],
    )

    customers = [
        Customer(
            external_id=user_id,
            name=f"{user['name']['first_name']} {user['name']['last_name']}",
            email=user["email"],
            locale="en",
            address=user["address"],
        )
        for user_id, user in data["users"].items()
    ]
    Customer.objects.bulk_create(
        customers, update_conflicts=True, unique_fields=["external_id"], update_fields=["name", "email", "address"]
    )
    customer_ids = dict(Customer.objects.filter(external_id__in=data["users"].keys()).values_list("external_id", "id"))
    Account.objects.bulk_create(
        [Account(customer_id=pk, number=f"ACC-{ext_id}", currency="USD") for ext_id, pk in customer_ids.items()],
        ignore_conflicts=True,
    )

    orders = []
    for raw in data["orders"].values():
        status = TAU_STATUS.get(raw["status"])
        if status is None:
            raise ValueError(f"Order {raw['order_id']} has an unknown status {raw['status']!r}")
        subtotal = sum((Decimal(str(item["price"])) for item in raw["items"]), Decimal("0.00"))
        tracking = [t for f in raw.get("fulfillments", []) for t in f.get("tracking_id", [])]
        orders.append(
            Order(
                number=raw["order_id"].lstrip("#"),
                customer_id=customer_ids[raw["user_id"]],
                status=status,
                currency="USD",
                subtotal=subtotal,
                total=subtotal,
                tracking_number=tracking[0] if tracking else "",
                shipping_address=raw["address"],
                **_tau_order_dates(raw["order_id"], status, now),
            )
        )
    Order.objects.bulk_create(
        orders,
        update_conflicts=True,
        unique_fields=["number"],
        update_fields=[
            "customer",
            "status",
            "currency",
            "subtotal",
            "total",
            "tracking_number",
            "shipping_address",
            "placed_at",
            "shipped_at",
            "delivered_at",
        ],
    )
    order_ids = dict(Order.objects.filter(number__in=[o.number for o in orders]).values_list("number", "id"))
    product_ids = dict(Product.objects.filter(sku__in=[p.sku for p in products]).values_list("sku", "id"))
    OrderItem.objects.filter(order_id__in=order_ids.values()).delete()
    items = [
        OrderItem(
            order_id=order_ids[raw["order_id"].lstrip("#")],
            product_id=product_ids.get(item["item_id"]),
            sku=item["item_id"],
            name=item["name"],
            quantity=1,
            unit_price=Decimal(str(item["price"])),
        )
        for raw in data["orders"].values()
        for item in raw["items"]
    ]
    OrderItem.objects.bulk_create(items, batch_size=1000)
    return {
        "customers": len(customers),
        "products": len(data["products"]),
        "variant SKUs": len(products),
        "orders": len(orders),
        "order items": len(items),
    }
