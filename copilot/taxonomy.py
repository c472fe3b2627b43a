"""The default intent taxonomy. Plain data, so the data migration can use it too."""

import csv
from dataclasses import dataclass
from pathlib import Path

DEFAULT_EXAMPLES_CSV = Path(__file__).resolve().parent / "data" / "default_intents.csv"


@dataclass(frozen=True)
class IntentSpec:
    label: str
    description: str
    tool: str = ""
    escalates: bool = False


DEFAULT_INTENTS: dict[str, IntentSpec] = {
    "billing": IntentSpec("Billing", "Charges, payments, invoices and refunds of charges.", "account_status"),
    "technical": IntentSpec("Technical problem", "The app, the website, checkout errors and devices."),
    "shipping": IntentSpec("Shipping and delivery", "Where a parcel is, delivery times and costs.", "order_status"),
    "orders": IntentSpec("Orders", "Order status, changes and cancellations.", "order_status"),
    "returns": IntentSpec("Returns and claims", "Returns, refunds and warranty claims.", "return_eligibility"),
    "account": IntentSpec("Account", "Sign-in, passwords, membership and account status.", "account_status"),
    "general": IntentSpec("General", "Greetings, thanks and anything else."),
    "human_request": IntentSpec("Asks for a human", "The customer wants a person, not the bot.", escalates=True),
}


def default_examples() -> list[tuple[str, str]]:
    with DEFAULT_EXAMPLES_CSV.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["intent"]) for row in csv.DictReader(handle)]


def intent_label(name: str) -> str:
    spec = DEFAULT_INTENTS.get(name)
    return spec.label if spec else name.replace("_", " ").replace("-", " ").capitalize()
