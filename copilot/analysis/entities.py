"""Order numbers, e-mails, amounts, dates and products mentioned in a customer message.

Everything is matched on a diacritics-folded, lower-cased copy of the message (same
length, so offsets carry over): customers write "objednavka c. 12345" as often as
"objednávka č. 12345", and case-sensitive patterns are several times faster.
Extractors run from the most specific to the least and mask what they took, so the
digits of an e-mail, a price or a date never resurface as an order number.
"""

import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TypeVar

from copilot.analysis.language import strip_diacritics


@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str | None
    text: str

    def as_dict(self) -> dict:
        return {"value": str(self.value), "currency": self.currency, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict) -> "Amount":
        return cls(value=Decimal(str(data["value"])), currency=data.get("currency"), text=data.get("text", ""))


@dataclass(frozen=True)
class Entities:
    order_numbers: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    amounts: tuple[Amount, ...] = ()
    dates: tuple[date, ...] = ()
    products: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "order_numbers": list(self.order_numbers),
            "emails": list(self.emails),
            "amounts": [amount.as_dict() for amount in self.amounts],
            "dates": [day.isoformat() for day in self.dates],
            "products": list(self.products),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Entities":
        return cls(
            order_numbers=tuple(data.get("order_numbers") or ()),
            emails=tuple(data.get("emails") or ()),
            amounts=tuple(Amount.from_dict(amount) for amount in data.get("amounts") or ()),
            dates=tuple(date.fromisoformat(day) if isinstance(day, str) else day for day in data.get("dates") or ()),
            products=tuple(data.get("products") or ()),
        )

    def merged(self, other: "Entities") -> "Entities":
        return Entities(
            order_numbers=_unique(self.order_numbers + other.order_numbers),
            emails=_unique(self.emails + other.emails),
            # "$20" and "20 USD" are the same amount.
            amounts=_unique(self.amounts + other.amounts, key=lambda amount: (amount.value, amount.currency)),
            dates=_unique(self.dates + other.dates),
            products=_unique(self.products + other.products),
        )


T = TypeVar("T")


def _unique(items: Iterable[T], *, key: Callable[[T], Hashable] | None = None) -> tuple[T, ...]:
    seen: set[Hashable] = set()
    result = []
    for item in items:
        marker = key(item) if key else item
        if marker not in seen:
            seen.add(marker)
            result.append(item)
    return tuple(result)


def _masked(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


_EMAIL_RE = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")

# A price is written with space, comma or dot thousands and up to two decimals ("1 299,50", "1,299.99").
_NUMBER = (
    r"(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?"
    r"|\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?"
    r"|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?"
    r"|\d+(?:[.,]\d{1,2})?)"
)
# "pounds" is left out: in a parcel question it is a weight more often than a price.
_CURRENCY_AFTER = r"(?:kc|czk|korun\w*|eur|euros?|€|usd|dollars?|\$|gbp|£|rub|rubl\w*|roubles?|₽|руб\w*\.?)"
_AMOUNT_RE = re.compile(
    rf"(?:(?P<symbol>us\$|[$€£₽])|\b(?P<code>usd|eur|czk|gbp|rub)\b)[ \u00a0]?(?P<before>{_NUMBER})(?!\d)"
    rf"|(?<![\d.,])(?P<after>{_NUMBER})[ \u00a0]?(?P<currency>{_CURRENCY_AFTER})(?!\w)"
)
_CURRENCY_PREFIXES = (
    ("kc", "CZK"),
    ("czk", "CZK"),
    ("korun", "CZK"),
    ("eur", "EUR"),
    ("€", "EUR"),
    ("usd", "USD"),
    ("us$", "USD"),
    ("$", "USD"),
    ("dollar", "USD"),
    ("gbp", "GBP"),
    ("£", "GBP"),
    ("rub", "RUB"),
    ("roub", "RUB"),
    ("руб", "RUB"),
    ("₽", "RUB"),
)

_MONTHS = {
    **dict.fromkeys(("january", "jan", "ledna", "leden", "января", "январь", "januar"), 1),
    **dict.fromkeys(("february", "feb", "unora", "unor", "февраля", "февраль", "februar"), 2),
    **dict.fromkeys(("march", "mar", "brezna", "brezen", "марта", "март", "marz"), 3),
    **dict.fromkeys(("april", "apr", "dubna", "duben", "апреля", "апрель"), 4),
    **dict.fromkeys(("may", "kvetna", "kveten", "мая", "май", "mai"), 5),
    **dict.fromkeys(("june", "jun", "cervna", "cerven", "июня", "июнь", "juni"), 6),
    **dict.fromkeys(("july", "jul", "cervence", "cervenec", "июля", "июль", "juli"), 7),
    **dict.fromkeys(("august", "aug", "srpna", "srpen", "августа", "август"), 8),
    **dict.fromkeys(("september", "sep", "sept", "zari", "сентября", "сентябрь"), 9),
    **dict.fromkeys(("october", "oct", "rijna", "rijen", "октября", "октябрь", "oktober"), 10),
    **dict.fromkeys(("november", "nov", "listopadu", "listopad", "ноября", "ноябрь"), 11),
    **dict.fromkeys(("december", "dec", "prosince", "prosinec", "декабря", "декабрь", "dezember"), 12),
}
_MONTH = "(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + ")"
# "3 may arrive" is not a date: the English month must be written "May".
_MAY = ("May", "MAY")
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s*(?P<{}>\d{{4}})(?!\d))?"
_RELATIVE_DAYS = {
    **dict.fromkeys(("today", "dnes", "dneska", "сегодня", "heute"), 0),
    **dict.fromkeys(("yesterday", "vcera", "вчера", "gestern"), -1),
    **dict.fromkeys(("day before yesterday", "predevcirem", "позавчера", "vorgestern"), -2),
    **dict.fromkeys(("tomorrow", "zitra", "завтра"), 1),
}
_DATE_RE = re.compile(
    r"(?<![\d.])(?P<iso_y>\d{4})-(?P<iso_m>\d{1,2})-(?P<iso_d>\d{1,2})(?![\d-])"
    r"|(?<![\d.])(?P<dot_d>\d{1,2})\.\s?(?P<dot_m>\d{1,2})\.\s?(?P<dot_y>\d{4})(?!\d)"
    r"|(?<![\d/])(?P<us_m>\d{1,2})/(?P<us_d>\d{1,2})/(?P<us_y>\d{4})(?!\d)"
    rf"|(?<![\d.])(?P<dm_d>\d{{1,2}}){_ORDINAL}\.?\s*(?:of\s+)?(?P<dm_m>{_MONTH})\b\.?{_YEAR.format('dm_y')}"
    rf"|\b(?P<md_m>{_MONTH})\b\.?\s+(?P<md_d>\d{{1,2}}){_ORDINAL}(?![\d.:]\d|\d){_YEAR.format('md_y')}"
    r"|\b(?P<relative>" + "|".join(sorted(_RELATIVE_DAYS, key=len, reverse=True)) + r")\b"
)

# Order keywords, then any of "no.", "number", "č.", "№", "#", ":" or "is", then the number.
# A bare number needs a "#" right before it; "W" + 7 digits is distinctive enough on its own.
_ORDER_RE = re.compile(
    r"(?:\b(?:order|objednav\w*|obj\.|bestell\w*|заказ\w*)"
    r"(?:\s*(?:\b(?:no|nr|num|number|id|ref|c|cislo|cis|nummer|номер|is|was|je|byla?|ist)\b\.?|[#:№]))*"
    r"\s*(?P<hash>\#)?"
    r"|(?<![\w&#])(?P<bare_hash>\#))"
    r"(?P<id>w\d{7}|\d{4,8})(?!\d)(?![.,/-]\d)"
    r"|(?<![\w#])(?P<w_id>w\d{7})\b"
)
_WORD_RE = re.compile(r"\w+")
_YEARS = range(1900, 2100)


def _parse_number(raw: str) -> Decimal | None:
    digits = re.sub(r"[\s\u00a0\u202f]", "", raw)
    separators = [index for index, char in enumerate(digits) if char in ",."]
    if separators:
        last = separators[-1]
        # A separator followed by exactly three digits groups thousands; prices have at most two decimals.
        if len(digits) - last - 1 == 3:
            digits = digits.replace(",", "").replace(".", "")
        else:
            digits = digits[:last].replace(",", "").replace(".", "") + "." + digits[last + 1 :]
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def _currency(token: str) -> str | None:
    token = token.lower()
    return next((code for prefix, code in _CURRENCY_PREFIXES if token.startswith(prefix)), None)


# A date without a year is read as falling within the two months ahead or the ten months
# before today: customers mostly cite past orders and near-term promises.
_AHEAD = timedelta(days=60)


def _without_year(*, month: int, day: int, today: date) -> date | None:
    candidates = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    in_window = [
        candidate for candidate in candidates if today + _AHEAD - timedelta(days=365) < candidate <= today + _AHEAD
    ]
    return in_window[0] if in_window else max((c for c in candidates if c <= today), default=None)


def _date(match: re.Match, *, text: str, today: date) -> date | None:
    """The date ``match`` in the folded copy of ``text`` stands for."""
    groups = match.groupdict()
    if groups["relative"]:
        return today + timedelta(days=_RELATIVE_DAYS[groups["relative"]])
    if groups["iso_y"]:
        year, month, day = groups["iso_y"], groups["iso_m"], groups["iso_d"]
    elif groups["dot_y"]:
        year, month, day = groups["dot_y"], groups["dot_m"], groups["dot_d"]
    elif groups["us_y"]:
        year, month, day = groups["us_y"], groups["us_m"], groups["us_d"]
        # 20/11/2026 can only be day first.
        if int(month) > 12 >= int(day):
            month, day = day, month
    else:
        prefix = "dm" if groups["dm_m"] else "md"
        if groups[f"{prefix}_m"] == "may" and text[match.start(f"{prefix}_m") : match.end(f"{prefix}_m")] not in _MAY:
            return None
        month = str(_MONTHS[groups[f"{prefix}_m"]])
        day, year = groups[f"{prefix}_d"], groups[f"{prefix}_y"]
        if not year:
            return _without_year(month=int(month), day=int(day), today=today)
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


@lru_cache(maxsize=32)
def _catalogue(products: tuple[str, ...]) -> dict[str, list[tuple[str, int, str]]]:
    """Folded catalogue names by their first word, longest first, each with that word's offset and the name as given.

    Looking names up word by word keeps a catalogue of hundreds of products as cheap as a few.
    """
    index: dict[str, list[tuple[str, int, str]]] = {}
    seen = set()
    for product in products:
        name = strip_diacritics(product.strip()).lower()
        first = _WORD_RE.search(name)
        if first and name not in seen:
            seen.add(name)
            index.setdefault(first.group(), []).append((name, first.start(), product))
    for names in index.values():
        names.sort(key=lambda entry: len(entry[0]), reverse=True)
    return index


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _products(folded: str, products: Sequence[str]) -> list[str]:
    index = _catalogue(tuple(products))
    found: list[str] = []
    taken_until = 0
    for word in _WORD_RE.finditer(folded):
        for name, offset, product in index.get(word.group(), ()):
            start, end = word.start() - offset, word.start() - offset + len(name)
            if start < taken_until or not folded.startswith(name, start):
                continue
            if (start == 0 or not _is_word_char(folded[start - 1])) and (
                end == len(folded) or not _is_word_char(folded[end])
            ):
                found.append(product)
                taken_until = end
                break
    return found


def entities_extract(*, text: str, products: Sequence[str] = (), today: date | None = None) -> Entities:
    """The entities mentioned in ``text``; ``products`` is the catalogue to look for."""
    if today is None:
        today = datetime.now(UTC).date()
    # Folding first: lower() lengthens only "İ", which folding has already turned into "I".
    folded = strip_diacritics(text).lower()

    emails = []
    for match in _EMAIL_RE.finditer(folded):
        emails.append(text[match.start() : match.end()].lower())
        folded = _masked(folded, *match.span())
    # Product names may contain numbers ("iPhone 15"), so they are looked for before prices and dates are masked.
    without_emails = folded

    amounts = []
    for match in _AMOUNT_RE.finditer(folded):
        value = _parse_number(match["before"] or match["after"])
        if value is not None:
            currency = _currency(match["symbol"] or match["code"] or match["currency"])
            amounts.append(Amount(value=value, currency=currency, text=text[match.start() : match.end()]))
        folded = _masked(folded, *match.span())

    dates = []
    for match in _DATE_RE.finditer(folded):
        found = _date(match, text=text, today=today)
        if found:
            dates.append(found)
            folded = _masked(folded, *match.span())

    order_numbers = []
    for match in _ORDER_RE.finditer(folded):
        number = (match["id"] or match["w_id"]).upper()
        explicit = match["hash"] or match["bare_hash"] or number.startswith("W")
        if len(number) == 4 and int(number) in _YEARS and not explicit:
            continue
        order_numbers.append(number)

    found_products = _products(without_emails, products) if products else []

    return Entities(
        order_numbers=_unique(order_numbers),
        emails=_unique(emails),
        amounts=_unique(amounts, key=lambda amount: (amount.value, amount.currency)),
        dates=_unique(dates),
        products=_unique(found_products),
    )
