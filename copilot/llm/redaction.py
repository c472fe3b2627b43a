"""Masking personal data before text leaves for an external model (``LLM_REDACT_PII``).

Emails, phone numbers and card numbers in every prompt become placeholders (``[EMAIL_1]``,
``[PHONE_1]``, ``[CARD_1]``), the same value the same placeholder for the whole turn, so the
model can still say "we will write to [EMAIL_1]". The reply gets the values back: emails and
phones in full, a card only as its last four digits, because a chat should never echo a
whole card number. Order numbers, amounts and dates are left alone: the answer needs them.
"""

import re

PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|CARD)_(\d{1,3})\]")
# The longest placeholder is "[PHONE_999]": a stream holds back at most this much at its end.
PLACEHOLDER_MAX = 11
# Unicode letters too: "josé@example.com", "user@müller.de".
EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
# Digits with at most one separator between two of them: space, no-break space, dot, hyphen or dash.
SEPARATOR = " \u00a0.\\-\u2010-\u2015"
NUMBER_RUN = re.compile(rf"\d(?:[{SEPARATOR}]?\d)*")
DIGIT_GROUP = re.compile(r"\d+")
CARD_DIGITS = range(13, 20)
PHONE = re.compile(rf"(?<![\w+])(?<!\d\.)\+?\(?\d[\d ()./{SEPARATOR}]{{6,}}\d(?!\w)(?!\.\d)")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}\.\s?\d{1,2}\.\s?\d{4}")
PHONE_MIN_DIGITS = 9


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in _digits(number)]
    checksum = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        checksum += digit
    return len(digits) >= 13 and checksum % 10 == 0


def card_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a Luhn-valid card number: 13 to 19 digits that begin and end a
    group of digits, so one written next to other numbers ("4111 1111 1111 1111 12/27 123")
    is found too, while a long reference without separators is never cut into a card."""
    spans = []
    for run in NUMBER_RUN.finditer(text):
        groups = [(run.start() + g.start(), run.start() + g.end()) for g in DIGIT_GROUP.finditer(run.group())]
        first = 0
        while first < len(groups):
            found = None
            for last in range(len(groups) - 1, first - 1, -1):
                start, end = groups[first][0], groups[last][1]
                if len(_digits(text[start:end])) in CARD_DIGITS and luhn_valid(text[start:end]):
                    found = last
                    spans.append((start, end))
                    break
            first = (found if found is not None else first) + 1
    return spans


class Redactor:
    """One per turn: the placeholders it hands out stay the same across the turn's calls."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, _digits(value) if kind in ("PHONE", "CARD") else value.lower())
        if key not in self._by_value:
            count = sum(1 for existing_kind, _ in self._by_value if existing_kind == kind) + 1
            placeholder = f"[{kind}_{count}]"
            self._by_value[key] = placeholder
            self._by_placeholder[placeholder] = value
        return self._by_value[key]

    def redact(self, text: str) -> str:
        def phone(match: re.Match) -> str:
            value = match.group()
            if len(_digits(value)) < PHONE_MIN_DIGITS or DATE.fullmatch(value.strip()):
                return value
            return self._placeholder("PHONE", value)

        cards = [(start, end, self._placeholder("CARD", text[start:end])) for start, end in card_spans(text)]
        for start, end, placeholder in reversed(cards):
            text = text[:start] + placeholder + text[end:]
        text = EMAIL.sub(lambda match: self._placeholder("EMAIL", match.group()), text)
        return PHONE.sub(phone, text)

    def restore(self, text: str) -> str:
        def back(match: re.Match) -> str:
            value = self._by_placeholder.get(match.group())
            if value is None:
                # A placeholder the model made up stands for nothing; it is dropped, not shown.
                return ""
            if match.group(1) == "CARD":
                return f"•••• {_digits(value)[-4:]}"
            return value

        return PLACEHOLDER.sub(back, text)

    def restore_data(self, data):
        """``restore`` through a JSON reply: every string in it, at any depth."""
        if isinstance(data, str):
            return self.restore(data)
        if isinstance(data, list):
            return [self.restore_data(item) for item in data]
        if isinstance(data, dict):
            return {key: self.restore_data(value) for key, value in data.items()}
        return data

    def messages(self, messages: list[dict]) -> list[dict]:
        return [{**message, "content": self.redact(message["content"])} for message in messages]


class StreamRestorer:
    """``restore`` for a stream of deltas, where a placeholder may be split across two of them."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.pending = ""

    def feed(self, delta: str) -> str:
        text = self.pending + delta
        start = text.rfind("[")
        if start != -1 and "]" not in text[start:] and len(text) - start < PLACEHOLDER_MAX:
            self.pending, text = text[start:], text[:start]
        else:
            self.pending = ""
        return self.redactor.restore(text)

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.redactor.restore(text)
