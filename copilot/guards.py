"""Fast, deterministic checks on answer text.

A streamed answer is released sentence by sentence, and each sentence must pass these
first: every number and email in it must come from texts we vouch for (the CRM card, the
tool results, the help-centre passages, our own earlier replies), and it must not repeat
the system prompt. Another customer's order number or email can never pass, because the
tools never put another customer's data in the context.

What the customer wrote grounds nothing: a "new 365-day return policy" in their message
must not come back as ours because a model agreed. The one exception is an identifier the
customer gave, which the answer may repeat where it names that thing and nowhere else:
"I couldn't find order #54321" passes, "a refund of 54321 CZK" does not.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from copilot.analysis.language import strip_diacritics

NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d+)*")
DIGITS = re.compile(r"\d+")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CITATION = re.compile(r"\[\d{1,2}\]")
WORD = re.compile(r"\w+")
SENTENCE_END = re.compile(r"(?<=[.!?…:])\s+|\n+")
SHINGLE = 6
# Where a number names an order: after "order", "objednávka č.", "Bestellung Nr.", "#" and the
# like (matched on diacritics-folded text), or a "W" + 7 digits id. Narrower than the entity
# extractor on purpose: no "order is 12345", which an answer could turn into "the refund for
# your order is 12345 CZK".
ORDER_REFERENCE = re.compile(
    r"\b(?:orders?|objednav\w*|obj\.|bestell\w*|заказ\w*)"
    r"(?:\s*(?:\b(?:no|nr|num|number|id|ref|c|cislo|cis|nummer|номер)\b\.?|[#:№]))*"
    r"\s*#?\s*w?(?P<id>\d{4,8})(?!\d)"
    r"|\bw(?P<w_id>\d{7})\b",
    re.IGNORECASE,
)
# A card as the redaction restores it: only its last four digits, after four dots.
CARD_ENDING = re.compile(r"•{4}\s?(?P<id>\d{4})(?!\d)")


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def _reference_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` names an order or a masked card by its digits: (start, end) of the digits."""
    # Folding keeps the length, so the offsets hold in ``text`` itself.
    folded = strip_diacritics(text)
    spans = []
    for pattern in (ORDER_REFERENCE, CARD_ENDING):
        for match in pattern.finditer(folded):
            group = "w_id" if "w_id" in pattern.groupindex and match["w_id"] else "id"
            spans.append(match.span(group))
    return spans


def order_references(text: str) -> list[str]:
    """The order numbers ``text`` names as orders ("order #54321", "objednávka č. 54321"), digits only."""
    folded = strip_diacritics(text)
    return [match["id"] or match["w_id"] for match in ORDER_REFERENCE.finditer(folded)]


def references_removed(text: str) -> str:
    """``text`` without the order numbers and card endings it names, so that they ground nothing there."""
    for start, end in sorted(_reference_spans(text), reverse=True):
        text = text[:start] + " " + text[end:]
    return text


@dataclass(frozen=True)
class AllowedFacts:
    runs: frozenset[str]
    numbers: frozenset[str]
    emails: frozenset[str]
    instructions: frozenset[tuple[str, ...]]
    # Identifiers the customer gave (order numbers, a card's last four digits), digits only:
    # an answer may repeat one only where it names an order or a masked card.
    references: frozenset[str] = frozenset()

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], *, instructions: str = "", references: Iterable[str] = ()
    ) -> "AllowedFacts":
        """``texts`` are the ones we vouch for; never put what the customer wrote among them."""
        corpus = "\n".join(texts)
        return cls(
            runs=frozenset(DIGITS.findall(corpus)),
            numbers=frozenset(re.sub(r"\D", "", match) for match in NUMBER.findall(corpus)),
            emails=frozenset(email.lower() for email in EMAIL.findall(corpus)),
            instructions=frozenset(_shingles(instructions)),
            references=frozenset(digits for reference in references if (digits := re.sub(r"\D", "", reference))),
        )


def sentence_violations(sentence: str, *, allowed: AllowedFacts) -> list[str]:
    """Why this sentence may not be shown; empty when it may."""
    problems: list[str] = []
    text = CITATION.sub(" ", sentence)
    for email in EMAIL.findall(text):
        if email.lower() not in allowed.emails:
            problems.append(f"email not in context: {email}")
    text = EMAIL.sub(" ", text)
    named = set(_reference_spans(text)) if allowed.references else set()
    for match in NUMBER.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if len(digits) == 1:
            continue
        if digits in allowed.numbers:
            continue
        runs = [run for run in DIGITS.finditer(match.group()) if len(run.group()) > 1]
        if all(
            run.group() in allowed.runs
            or (run.group() in allowed.references and (match.start() + run.start(), match.start() + run.end()) in named)
            for run in runs
        ):
            continue
        problems.append(f"number not in context: {match.group().strip()}")
    if allowed.instructions and _shingles(sentence) & allowed.instructions:
        problems.append("repeats the system prompt")
    return problems


def sentences_split(buffer: str) -> tuple[list[str], str]:
    """Complete sentences in ``buffer`` (with their trailing space) and the unfinished rest."""
    sentences: list[str] = []
    start = 0
    for match in SENTENCE_END.finditer(buffer):
        sentences.append(buffer[start : match.end()])
        start = match.end()
    return sentences, buffer[start:]
