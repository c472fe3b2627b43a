import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from copilot.analysis.entities import Amount, Entities, entities_extract

TODAY = date(2026, 11, 25)
CATALOGUE = ["iPhone 15", "iPhone 15 Pro", "Kávovar Deluxe", "USB-C cable"]


def extract(text: str, **kwargs) -> Entities:
    return entities_extract(text=text, today=TODAY, **kwargs)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("#12345", ("12345",)),
        ("Where is order 12345?", ("12345",)),
        ("order no. 12345", ("12345",)),
        ("my order number is 12345", ("12345",)),
        ("Order #12345 arrived broken", ("12345",)),
        ("order: 1234", ("1234",)),
        ("mám problém s objednávkou č. 12345", ("12345",)),
        ("objednavkou c. 12345", ("12345",)),
        ("stav objednávky 12345", ("12345",)),
        ("obj. 12345", ("12345",)),
        ("Где заказ 12345?", ("12345",)),
        ("заказ № 12345", ("12345",)),
        ("my order is #W1234567", ("W1234567",)),
        ("order #w7654321 and order W1234567", ("W7654321", "W1234567")),
        ("orders #12345 and #67890, again #12345", ("12345", "67890")),
        ("Meine Bestellung 445566 fehlt", ("445566",)),
    ],
)
def test_order_numbers(text, expected):
    assert extract(text).order_numbers == expected


@pytest.mark.parametrize(
    "text",
    [
        "12345",
        "call me on +420 777 123 456 or 777123456",
        "my order from 2026",
        "order 2026 please",
        "order 1299 CZK",
        "I paid $12345 for the order",
        "order 20.11.2026",
        "order 2026-11-20",
        "order 12345678901",
        "invoice number 12345",
        "see page.html#12345 and &#12345;",
        "write to order12345@example.com",
    ],
)
def test_numbers_that_are_not_order_numbers(text):
    assert extract(text).order_numbers == ()


def test_emails_are_lower_cased_and_deduplicated():
    found = extract("Use Jan.Novak+shop@Example.CZ, or jan.novak+shop@example.cz.").emails
    assert found == ("jan.novak+shop@example.cz",)


@pytest.mark.parametrize(
    "text, value, currency",
    [
        ("It cost $20", "20", "USD"),
        ("charged $1,299.99 twice", "1299.99", "USD"),
        ("€15.50", "15.50", "EUR"),
        ("15,50 EUR", "15.50", "EUR"),
        ("20 USD", "20", "USD"),
        ("zaplatil jsem 1 299 Kč", "1299", "CZK"),
        ("zaplatil jsem 1 299 Kc", "1299", "CZK"),
        ("1299 CZK", "1299", "CZK"),
        ("vrátili jen 350 korun", "350", "CZK"),
        ("£5", "5", "GBP"),
        ("500 руб.", "500", "RUB"),
        ("1200₽", "1200", "RUB"),
        ("1.299,50 EUR", "1299.50", "EUR"),
        ("20 dollars", "20", "USD"),
        ("USD 45", "45", "USD"),
    ],
)
def test_amounts(text, value, currency):
    (amount,) = extract(text).amounts
    assert (amount.value, amount.currency) == (Decimal(value), currency)
    assert amount.text in text


def test_amounts_keep_their_text_and_the_same_amount_counts_once():
    amounts = extract("I paid $20 (20 USD) and €5").amounts
    assert amounts == (
        Amount(value=Decimal("20"), currency="USD", text="$20"),
        Amount(value=Decimal("5"), currency="EUR", text="€5"),
    )


@pytest.mark.parametrize("text", ["It weighs 5 pounds", "I ordered 3 items", "2026", "in Europe 20 days"])
def test_numbers_that_are_not_amounts(text):
    assert extract(text).amounts == ()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("delivered 2026-11-20", date(2026, 11, 20)),
        ("objednáno 20.11.2026", date(2026, 11, 20)),
        ("objednáno 20. 11. 2026", date(2026, 11, 20)),
        ("ordered 11/20/2026", date(2026, 11, 20)),
        ("ordered 20/11/2026", date(2026, 11, 20)),
        ("on November 20", date(2026, 11, 20)),
        ("on Nov 20th, 2025", date(2025, 11, 20)),
        ("on 20 November 2026", date(2026, 11, 20)),
        ("on the 3rd of March", date(2026, 3, 3)),
        ("dne 20. listopadu 2026", date(2026, 11, 20)),
        ("заказ от 5 ноября", date(2026, 11, 5)),
        ("today", TODAY),
        ("it came yesterday", date(2026, 11, 24)),
        ("dnes", TODAY),
        ("přišlo to včera", date(2026, 11, 24)),
        ("вчера", date(2026, 11, 24)),
        ("сегодня", TODAY),
    ],
)
def test_dates(text, expected):
    assert extract(text).dates == (expected,)


@pytest.mark.parametrize(
    "text", ["last week", "3 may arrive broken", "31.02.2026", "version 1.2.3", "order 12345", "20 USD", "November"]
)
def test_text_that_is_not_a_date(text):
    assert extract(text).dates == ()


@pytest.mark.parametrize(
    "text, today, expected",
    [
        # Within two months ahead it is a promise; further ahead it is last year's order.
        ("by December 10", date(2026, 11, 25), date(2026, 12, 10)),
        ("ordered on 3 May", date(2026, 11, 25), date(2026, 5, 3)),
        ("ordered on December 30", date(2027, 1, 2), date(2026, 12, 30)),
        ("arrives January 5", date(2026, 12, 20), date(2027, 1, 5)),
    ],
)
def test_a_date_without_a_year_is_read_near_today(text, today, expected):
    assert entities_extract(text=text, today=today).dates == (expected,)


def test_relative_dates_default_to_the_utc_date():
    before = datetime.now(UTC).date()
    found = entities_extract(text="it arrived broken today").dates
    assert found[0] in {before, datetime.now(UTC).date()}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("My IPHONE 15 PRO is broken", ("iPhone 15 Pro",)),
        ("iphone 15 and iPhone 15 Pro", ("iPhone 15", "iPhone 15 Pro")),
        ("kávovar deluxe nefunguje", ("Kávovar Deluxe",)),
        ("kavovar deluxe nefunguje", ("Kávovar Deluxe",)),
        ("a usb-c cable, not an iPhone 150", ("USB-C cable",)),
        ("iPhone 15s", ()),
        ("write to iphone@example.com", ()),
    ],
)
def test_products_match_whole_names_from_the_catalogue(text, expected):
    assert extract(text, products=CATALOGUE).products == expected


def test_no_catalogue_means_no_products():
    assert extract("iPhone 15 Pro").products == ()
    assert extract("iPhone 15 Pro", products=["", "  "]).products == ()


def test_a_whole_czech_message():
    found = extract(
        "Dobrý den, objednávka č. 54321 (iPhone 15 Pro za 24 990 Kč) měla dorazit 20. 11. 2026, "
        "pište na Petr.Svoboda@seznam.cz",
        products=CATALOGUE,
    )
    assert found == Entities(
        order_numbers=("54321",),
        emails=("petr.svoboda@seznam.cz",),
        amounts=(Amount(value=Decimal("24990"), currency="CZK", text="24 990 Kč"),),
        dates=(date(2026, 11, 20),),
        products=("iPhone 15 Pro",),
    )


def test_nothing_found_in_plain_text():
    assert extract("Where is my parcel?") == Entities()


FULL = Entities(
    order_numbers=("12345", "W1234567"),
    emails=("a@example.com",),
    amounts=(Amount(value=Decimal("1299.99"), currency="USD", text="$1,299.99"), Amount(Decimal("5"), None, "5")),
    dates=(date(2026, 11, 20),),
    products=("iPhone 15",),
)


def test_as_dict_is_json_serialisable_and_round_trips():
    data = json.loads(json.dumps(FULL.as_dict()))
    assert data["amounts"][0] == {"value": "1299.99", "currency": "USD", "text": "$1,299.99"}
    assert data["dates"] == ["2026-11-20"]
    assert Entities.from_dict(data) == FULL


def test_from_dict_tolerates_missing_and_empty_keys():
    assert Entities.from_dict({}) == Entities()
    assert Entities.from_dict({"order_numbers": ["1"], "amounts": None}) == Entities(order_numbers=("1",))


def test_merged_keeps_order_and_drops_duplicates():
    first = Entities(order_numbers=("1", "2"), amounts=(Amount(Decimal("20"), "USD", "$20"),), products=("A",))
    second = Entities(
        order_numbers=("2", "3"),
        amounts=(Amount(Decimal("20.00"), "USD", "20 USD"), Amount(Decimal("20"), "EUR", "€20")),
        dates=(date(2026, 1, 1),),
        products=("A", "B"),
    )
    merged = first.merged(second)
    assert merged.order_numbers == ("1", "2", "3")
    assert [amount.text for amount in merged.amounts] == ["$20", "€20"]
    assert merged.dates == (date(2026, 1, 1),)
    assert merged.products == ("A", "B")
    assert first.merged(Entities()) == first


def test_results_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL.order_numbers = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL.amounts[0].value = Decimal("1")


def test_long_pathological_input_completes():
    # Guards the regexes against catastrophic backtracking; a hang here fails the run.
    text = ("order no no no no 1 " + "1 " * 50 + "#" * 20 + " 1,1,1,1. " + "a@" * 30) * 40
    assert isinstance(extract(text, products=CATALOGUE), Entities)
