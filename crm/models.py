from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower


class Currency(models.TextChoices):
    CZK = "CZK", "CZK"
    EUR = "EUR", "EUR"
    USD = "USD", "USD"


class Customer(models.Model):
    class Tier(models.TextChoices):
        STANDARD = "standard", "Standard"
        GOLD = "gold", "Gold"
        VIP = "vip", "VIP"

    # The id the shop's own systems use; identity verification hashes this value.
    external_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.STANDARD)
    locale = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    address = models.JSONField(default=dict, blank=True)
    # Set by ``customer_erase``: the person asked to be forgotten, so every token issued to them
    # stops working and nothing new is collected about them (docs/privacy.md).
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("email"), condition=~Q(email=""), name="crm_customer_email_ci_unique"),
            models.CheckConstraint(condition=~Q(external_id=""), name="crm_customer_external_id_not_empty"),
            models.CheckConstraint(condition=Q(tier__in=["standard", "gold", "vip"]), name="crm_customer_tier_valid"),
        ]
        indexes = [models.Index(Lower("name"), name="crm_customer_name_ci_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None


class Account(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REFUND_ELIGIBLE = "refund_eligible", "Refund eligible"

    class SubscriptionTier(models.TextChoices):
        FREE = "free", "Free"
        BASIC = "basic", "Basic"
        PREMIUM = "premium", "Premium"

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="account")
    # Public account id, e.g. ACC-10001, used by the integration API.
    number = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    subscription_tier = models.CharField(max_length=16, choices=SubscriptionTier.choices, default=SubscriptionTier.FREE)
    balance = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.EUR)
    last_payment_at = models.DateTimeField(null=True, blank=True)
    last_payment_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "suspended", "refund_eligible"]), name="crm_account_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(subscription_tier__in=["free", "basic", "premium"]), name="crm_account_tier_valid"
            ),
            models.CheckConstraint(
                condition=Q(last_payment_amount__isnull=True) | Q(last_payment_amount__gt=0),
                name="crm_account_last_payment_positive",
            ),
            models.CheckConstraint(
                condition=Q(last_payment_amount__isnull=True) | Q(last_payment_at__isnull=False),
                name="crm_account_last_payment_has_date",
            ),
        ]
        indexes = [models.Index(fields=["status", "subscription_tier"], name="crm_account_status_idx")]

    def __str__(self) -> str:
        return self.number

    @property
    def needs_manual_review(self) -> bool:
        return self.status == self.Status.SUSPENDED


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.EUR)
    attributes = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "sku"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="crm_product_price_non_negative")]
        indexes = [models.Index(fields=["category", "name"], name="crm_product_category_idx")]

    def __str__(self) -> str:
        return f"{self.name} [{self.sku}]"


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"
        RETURNED = "returned", "Returned"

    # The number a customer quotes, e.g. 12345.
    number = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.EUR)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    shipping_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    tax_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    placed_at = models.DateTimeField()
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    carrier = models.CharField(max_length=32, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True)
    shipping_address = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "processing", "shipped", "delivered", "cancelled", "returned"]),
                name="crm_order_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0) & Q(shipping_total__gte=0) & Q(tax_total__gte=0) & Q(total__gte=0),
                name="crm_order_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(shipped_at__isnull=True) | Q(shipped_at__gte=F("placed_at")),
                name="crm_order_shipped_after_placed",
            ),
            models.CheckConstraint(
                condition=Q(delivered_at__isnull=True)
                | (Q(shipped_at__isnull=False) & Q(delivered_at__gte=F("shipped_at"))),
                name="crm_order_delivered_after_shipped",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["shipped", "delivered"]) | Q(shipped_at__isnull=False),
                name="crm_order_shipped_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="crm_order_delivered_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="crm_order_customer_idx"),
            models.Index(fields=["status", "-placed_at"], name="crm_order_status_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Name and SKU are copied at order time so history survives catalogue edits.
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="crm_orderitem_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="crm_orderitem_price_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity
