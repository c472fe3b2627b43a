"""Fast, deterministic checks on answer text.

A streamed answer is released sentence by sentence, and each sentence must pass these
first: every number and email in it must come from the context the answer was built
from (the customer's own data, the tool results, the cited passages, the conversation),
and it must not repeat the system prompt. Another customer's order number or email can
never pass, because the tools never put another customer's data in the context.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d+)*")
DIGITS = re.compile(r"\d+")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CITATION = re.compile(r"\[\d{1,2}\]")
WORD = re.compile(r"\w+")
SENTENCE_END = re.compile(r"(?<=[.!?…:])\s+|\n+")
SHINGLE = 6


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


@dataclass(frozen=True)
class AllowedFacts:
    runs: frozenset[str]
    numbers: frozenset[str]
    emails: frozenset[str]
    instructions: frozenset[tuple[str, ...]]

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, instructions: str = "") -> "AllowedFacts":
        corpus = "\n".join(texts)
        return cls(
            runs=frozenset(DIGITS.findall(corpus)),
            numbers=frozenset(re.sub(r"\D", "", match) for match in NUMBER.findall(corpus)),
            emails=frozenset(email.lower() for email in EMAIL.findall(corpus)),
            instructions=frozenset(_shingles(instructions)),
        )


def sentence_violations(sentence: str, *, allowed: AllowedFacts) -> list[str]:
    """Why this sentence may not be shown; empty when it may."""
    problems: list[str] = []
    text = CITATION.sub(" ", sentence)
    for email in EMAIL.findall(text):
        if email.lower() not in allowed.emails:
            problems.append(f"email not in context: {email}")
    text = EMAIL.sub(" ", text)
    for match in NUMBER.findall(text):
        digits = re.sub(r"\D", "", match)
        if len(digits) == 1:
            continue
        runs = [run for run in DIGITS.findall(match) if len(run) > 1]
        if digits in allowed.numbers or all(run in allowed.runs for run in runs):
            continue
        problems.append(f"number not in context: {match.strip()}")
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
