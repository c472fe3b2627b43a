"""Offline language detection for short customer messages.

Statistical detectors guess wildly on five-word messages and order numbers, and
customers often type Czech without diacritics ("dobry den, kde je moje objednavka").
Only the helpdesk's languages matter, so a few decisive cues do better here: the
script, language-specific letters and a short list of everyday words per language.
"""

import re
import unicodedata
from collections.abc import Sequence


def _diacritics_table() -> dict[int, str]:
    # One character in, one character out, so match offsets in folded text are valid
    # in the original. ß and other letters without a decomposition are left alone.
    table = {}
    for codepoint in range(0xC0, 0x250):
        base = unicodedata.normalize("NFD", chr(codepoint))[0]
        if base != chr(codepoint) and base.isascii():
            table[codepoint] = base
    # ё is routinely typed as е; й is a letter of its own and must stay.
    table.update({ord("ё"): "е", ord("Ё"): "Е"})
    return table


_DIACRITICS = _diacritics_table()


def strip_diacritics(text: str) -> str:
    """``text`` with Latin diacritics (and Russian ё) removed, keeping its length."""
    return text.translate(_DIACRITICS)


_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Letters Czech has and English or German do not; the acute vowels also occur in loan words
# ("café"), so they count for less.
_CZECH_STRONG = frozenset("ěščřžůňťďĚŠČŘŽŮŇŤĎ")
_CZECH_WEAK = frozenset("áíéúýÁÍÉÚÝ")
_GERMAN_LETTERS = frozenset("äöüßÄÖÜ")

# Word weights: 2 for words that on their own identify the language, 1 for common words
# that only count together. Czech words are listed without diacritics because they are
# looked up after folding. Words shared between the languages ("a", "to", "die", "in") are left out.
_WORDS: dict[str, dict[str, int]] = {
    "cs": {
        **dict.fromkeys(
            "dobry dekuji dekujeme dekuju prosim objednavka objednavku objednavky objednavkou objednavce muzete "
            "potrebuji potrebuju neni jsem jste jsou zbozi zasilka zasilku zasilky reklamace reklamaci nefunguje "
            "nedorazila nedorazil mohli chtel chtela bych bylo byla nebyla uz jeste".split(),
            2,
        ),
        **dict.fromkeys(
            "den mam mate kde kdy proc jak moje muj mou moji nebo ale diky dik ahoj dnes vcera zitra co se si na ze "
            "za od vas vam jsme ktery ktera pomoc pomoci penize vraceni dobrou taky prodavate darkove poukaz "
            "poukazy".split(),
            1,
        ),
    },
    "de": {
        **dict.fromkeys(
            "ich ist meine meiner meinen nicht bitte danke bestellung guten hallo noch keine kein habe haben wurde "
            "lieferung paket rechnung zuruck geld warum wann".split(),
            2,
        ),
        **dict.fromkeys("wo wie und der das ein eine mit sie tag mein auf".split(), 1),
    },
    "en": {
        **dict.fromkeys(
            "the where what when why please thanks thank hello order parcel package refund received would could "
            "should have has haven't hasn't didn't doesn't don't can't you your refunds".split(),
            2,
        ),
        **dict.fromkeys(
            "is my i how can not it this that with for of and are was be me "
            # Shop words, so a short question in English is told from the customer's usual language.
            "sell buy gift cards ship shipping delivery address password account reset change return item "
            "warranty claim charged twice late check talk person still arrived nobody long take".split(),
            1,
        ),
    },
}


def _weights_by_word() -> dict[str, tuple[tuple[str, int], ...]]:
    # One look-up per word of a message instead of one per language.
    weights: dict[str, tuple[tuple[str, int], ...]] = {}
    for language, words in _WORDS.items():
        for word, weight in words.items():
            weights[word] = (*weights.get(word, ()), (language, weight))
    return weights


_WEIGHTS = _weights_by_word()
_DECISIVE = 2


def _scores(text: str) -> dict[str, int]:
    scores = dict.fromkeys(("en", "cs", "de"), 0)
    letters = set(text)
    if letters & _CZECH_STRONG:
        scores["cs"] += 3
    elif letters & _CZECH_WEAK:
        scores["cs"] += 1
    if letters & _GERMAN_LETTERS:
        scores["de"] += 3
    for word in _WORD_RE.findall(strip_diacritics(text.lower()).replace("’", "'")):
        for language, weight in _WEIGHTS.get(word, ()):
            scores[language] += weight
    return scores


def language_detect(*, text: str, default: str, supported: Sequence[str] = ("en", "cs", "ru", "de")) -> str:
    """The language code of ``text``, or ``default`` when nothing in it is decisive.

    Only codes in ``supported`` are returned (``default`` aside).
    """
    cyrillic = len(_CYRILLIC_RE.findall(text))
    if cyrillic and cyrillic > len(_LATIN_RE.findall(text)):
        return "ru" if "ru" in supported else default
    scores = {language: score for language, score in _scores(text).items() if language in supported}
    if not scores:
        return default
    best = max(scores.values())
    winners = [language for language, score in scores.items() if score == best]
    if best < _DECISIVE or len(winners) > 1:
        return default
    return winners[0]
