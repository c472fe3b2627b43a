"""The CRM facts the copilot reads, as plain records, whichever CRM they come from: our own
tables (``CRM_BACKEND=local``) or another system's REST API (``CRM_BACKEND=http``)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime

from crm.models import Account, Order


class CrmDataError(ValueError):
    """The CRM answered, but not with the shape we read."""


def _money(value) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError) as exc:
        raise CrmDataError(f"not an amount: {value!r}") from exc


def _when(value) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        # Well formed but impossible: "2024-02-30T10:00:00+00:00".
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise CrmDataError(f"not a timestamp with a time zone: {value!r}")
    return parsed


def _text(data: dict, key: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise CrmDataError(f"{key} must be a string")
    return value


@dataclass(frozen=True)
class AccountRecord:
    number: str
    status: str
    subscription_tier: str
    balance: Decimal
    currency: str
    last_payment_at: datetime | None
    last_payment_amount: Decimal | None

    @classmethod
    def of(cls, account: Account) -> "AccountRecord":
        return cls(
            number=account.number,
            status=account.status,
            subscription_tier=account.subscription_tier,
            balance=account.balance,
            currency=account.currency,
            last_payment_at=account.last_payment_at,
            last_payment_amount=account.last_payment_amount,
        )

    @classmethod
    def from_json(cls, data) -> "AccountRecord":
        if not isinstance(data, dict):
            raise CrmDataError("an account must be an object")
        amount = data.get("last_payment_amount")
        return cls(
            number=_text(data, "number"),
            status=_text(data, "status"),
            subscription_tier=_text(data, "subscription_tier"),
            balance=_money(data.get("balance")),
            currency=_text(data, "currency"),
            last_payment_at=_when(data.get("last_payment_at")),
            last_payment_amount=_money(amount) if amount not in (None, "") else None,
        )


@dataclass(frozen=True)
class OrderRecord:
    number: str
    status: str
    placed_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    carrier: str
    tracking_number: str
    total: Decimal
    currency: str
    # (quantity, name) of each line.
    items: tuple[tuple[int, str], ...]

    @classmethod
    def of(cls, order: Order) -> "OrderRecord":
        return cls(
            number=order.number,
            status=order.status,
            placed_at=order.placed_at,
            shipped_at=order.shipped_at,
            delivered_at=order.delivered_at,
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            total=order.total,
            currency=order.currency,
            items=tuple((item.quantity, item.name) for item in order.items.all()),
        )

    @classmethod
    def from_json(cls, data) -> "OrderRecord":
        if not isinstance(data, dict):
            raise CrmDataError("an order must be an object")
        items = data.get("items") or []
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise CrmDataError("items must be a list of objects")
        try:
            lines = tuple((int(item["quantity"]), str(item["name"])) for item in items)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CrmDataError("each item needs a quantity and a name") from exc
        placed_at = _when(data.get("placed_at"))
        if placed_at is None:
            raise CrmDataError("placed_at is required")
        return cls(
            number=_text(data, "number"),
            status=_text(data, "status"),
            placed_at=placed_at,
            shipped_at=_when(data.get("shipped_at")),
            delivered_at=_when(data.get("delivered_at")),
            carrier=_text(data, "carrier", required=False),
            tracking_number=_text(data, "tracking_number", required=False),
            total=_money(data.get("total")),
            currency=_text(data, "currency"),
            items=lines,
        )
