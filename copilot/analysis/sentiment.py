"""Sentiment and urgency of a customer message, offline and deterministic.

English gets VADER's compound score; Czech, Russian and German a small lexicon with
negation, matched on diacritics-folded words because "dekuji" is as common as "děkuji".
Rules shared by every language then look for what support agents care about most:
anger (shouting, swearing, threats, asking for a manager), repeated contact and urgency.

Scores live in VADER's unnormalised valence space until the end, so that lexicon hits,
problem phrases and anger signals add up the same way for every language.
"""

import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from copilot.analysis.language import strip_diacritics

SENTIMENTS = ("positive", "neutral", "negative", "frustrated", "angry")
URGENCIES = ("low", "medium", "high")


@dataclass(frozen=True)
class SentimentResult:
    sentiment: str
    urgency: str
    score: float
    signals: tuple[str, ...]


# VADER's normalisation constant: compound = raw / sqrt(raw² + 15).
_ALPHA = 15
_POSITIVE = 0.3
_NEGATIVE = -0.3
# Below this a message chasing an earlier one reads as frustrated even without a problem word.
_SOURISH = -0.05
_ANGER_VALENCE = -1.5
_PROBLEM_VALENCE = -1.5
_NEGATION = -0.74  # VADER's factor for a negated word.
_INTENSIFIER = 1.3
_EXCLAMATION = 0.292  # VADER's emphasis per "!", up to four.

# Support requests are full of polite words VADER rates as positive ("please help" scores 0.6),
# which would make every request look happy.
_VADER_NEUTRAL = ("please", "pls", "help", "like", "yes", "sure", "ok", "okay", "free", "want", "kind", "support")


@cache
def _vader() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    for word in _VADER_NEUTRAL:
        analyzer.lexicon.pop(word, None)
    return analyzer


def _phrases(*patterns: str) -> re.Pattern:
    """One regex for ``patterns``, matched as whole words in folded lower-case text.

    Case-sensitive on purpose: on already lower-cased text it is several times faster.
    """
    return re.compile(r"(?<!\w)(?:" + "|".join(patterns) + r")(?!\w)")


# Set phrases that carry no sentiment, though VADER scores "good morning" and "kind regards"
# as praise and "no problem" as a complaint.
_FORMULAS = _phrases(
    r"good (?:morning|afternoon|evening|day)|(?:best|kind|warm) regards|best wishes|no problem|not a problem",
    r"dobr(?:y|e) (?:den|rano|vecer|odpoledne)|s pozdravem",
    r"добр(?:ый|ое) (?:день|утро|вечер)|с уважением",
    r"guten (?:tag|morgen|abend)|mit freundlichen gru(?:ß|ss)en",
)
# VADER reads capitals as emphasis, so it gets the original text.
_FORMULAS_ANY_CASE = re.compile(_FORMULAS.pattern, re.IGNORECASE)

# One line per language: English, Czech (folded), Russian, German.
_SIGNAL_PATTERNS = {
    "profanity": _phrases(
        r"fuck\w*|shit\w*|bullshit|wtf|crap|asshole\w*|idiots?",
        r"kurv\w*|do prdele|hovn\w*|zkurven\w*|srack\w*|debil\w*",
        r"бля\w*|пизд\w*|хуй\w*|хуе\w*|дерьм\w*|сука|идиот\w*",
        r"schei(?:ß|ss)\w*|arschloch",
    ),
    "manager": _phrases(
        r"(?<!password )(?<!account )managers?|supervisors?|your boss",
        r"vedouci\w*|nadrizen\w*|sefa",
        r"руководител\w*|начальни\w*",
        r"vorgesetzt\w*",
    ),
    # Not anger: the escalation rules hand such a conversation to a person whatever the mood.
    "human_request": _phrases(
        r"(?:speak|talk|chat) (?:to|with) (?:a |an |the |your |some )?(?:real )?"
        r"(?:human|person|agent|representative|someone|somebody|manager|supervisor)",
        r"real person|human being|live agent|not a (?:bot|robot)",
        r"(?:mluvit|hovorit|spojit) (?:se )?s (?:clovekem|operatorem|nekym|vedoucim|pracovnikem)|ziv\w* clovek\w*",
        r"operator(?:em|a)",
        r"жив\w* человек\w*|с человеком|оператор(?:а|ом|у)",
        r"mit einem (?:menschen|mitarbeiter)|echte person",
    ),
    "legal_threat": _phrases(
        r"lawsuit|sue (?:you|your|them)|(?:will|going to|gonna) sue|lawyers?|attorney|legal action|to court",
        r"pravni(?:k|ka|kovi|ci)|advokat\w*|zalob\w*|zazaluj\w*|soud(?:u|em|ni\w*)?|coi",
        r"суд(?:а|е|у|ом|ебн\w*)?|юрист\w*|адвокат\w*",
        r"anwalt\w*|klage|verklag\w*",
    ),
    "outrage": _phrases(
        r"ridiculous|unacceptable|scam\w*|rip-?off|outrageous|disgrace\w*|pathetic",
        r"smesn\w*|neprijateln\w*|podvod\w*|ostud\w*|skandal\w*",
        r"безобрази\w*|возмутительн\w*|мошенни\w*|позор\w*",
        r"frechheit|unverschamt\w*|betrug\w*|inakzeptabel",
    ),
    "repeated_contact": _phrases(
        r"(?:second|third|fourth|fifth|\d+(?:nd|rd|th)) time|again|(?:several|multiple|many) times|how many times",
        r"still (?:not|no|nothing|waiting|haven'?t|hasn'?t|didn'?t|don'?t|doesn'?t)",
        r"keep (?:asking|calling|writing|emailing)|already (?:asked|wrote|written|called|contacted|emailed)",
        r"no (?:response|reply|answer)",
        r"porad|zase|opet|znovu|stale|podruhe|potreti|poctvrte|po nekolikate|uz (?:zase|tyden|dva tydny|mesic)",
        r"(?:уже )?(?:второй|третий|четвертый) раз|до сих пор|опять|снова|все еще|сколько можно",
        r"schon wieder|immer noch|zum (?:zweiten|dritten) mal",
    ),
    "urgent_word": _phrases(
        r"urgent\w*|asap|a\.s\.a\.p\.?|immediately|right (?:now|away)|emergency|as soon as possible|straight away",
        r"today\s*!",
        r"urgentn\w*|nalehav\w*|okamzit\w*|ihned|hned(?! jak)|specha\w*|co nejdriv\w*|co nejrychlej\w*|dnes\s*!",
        r"срочн\w*|немедленн\w*|как можно скорее|прямо сейчас",
        r"dringend\w*|sofort\w*|so schnell wie moglich",
    ),
    "deadline": _phrases(
        r"deadline|in time for",
        r"by (?:tomorrow|tonight|monday|tuesday|wednesday|thursday|friday|saturday|sunday|the weekend)",
        r"do (?:zitr\w*|pondeli|utery|stredy|ctvrtka|patku|soboty|nedele|vikendu)|nejpozdeji",
        r"до (?:завтра|понедельника|вторника|среды|четверга|пятницы|субботы|воскресенья|выходных)|дедлайн",
        r"bis (?:morgen|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)|spatestens",
    ),
    "problem": _phrases(
        # "No problem" is reassurance, in every language.
        r"(?<!no )(?<!not a )(?<!neni )(?<!neni to )(?<!zadny )(?<!kein )problem\w*",
        r"issues?|late|delay\w*|missing|broken|damaged|lost|wrong (?:item|size|product|order)",
        r"(?:not|never|hasn'?t|haven'?t|didn'?t|has not|have not|did not) (?:yet )?(?:arrived?|received?|come|got)",
        r"charged (?:twice|two times|double)|double charged|(?:doesn'?t|does not|isn'?t|not) working",
        r"nebyl[ao]? doruc\w*|nedoraz\w*|neprisl\w*|nedostal\w*|zpozd\w*|nefung\w*|rozbit\w*|poskozen\w*",
        r"chyb\w*|ztracen\w*",
        r"(?<!без )проблем\w*|не (?:пришел|пришла|пришло|пришли|получил\w*|работает|доставлен\w*)|задерж\w*|сломан\w*",
        r"поврежд\w*|брак\w*|потерял\w*",
        r"nicht (?:angekommen|erhalten|geliefert)|kaputt\w*|verspat\w*|beschadigt\w*",
    ),
    "resolved": _phrases(
        r"(?<!not )(?<!n't )(?<!never )(?<!not been )(?<!n't been )(?:solved|resolved|fixed|sorted)",
        r"(?:works|working) (?:now|again|fine)|all good",
        r"vyresen\w*|vyresil\w*|(?:uz|zase) (?:to )?funguje",
        r"(?<!не )(?:решен\w*|решил\w*|заработал\w*)",
        r"(?<!nicht )(?:gelost|erledigt)|funktioniert wieder",
    ),
    "gratitude": _phrases(r"thank\w*|thx|appreciate\w*", r"dekuj\w*|diky|dik", r"спасиб\w*|благодар\w*", r"dank\w*"),
}
_ANGER = ("shouting", "profanity", "manager", "legal_threat", "outrage")

_LEXICONS: dict[str, dict[str, float]] = {
    "cs": {
        **dict.fromkeys(("skvel", "vyborn", "perfektn", "paradn", "nejlep"), 2.5),
        **dict.fromkeys(("dekuj", "super", "bezva", "spokojen", "vstricn", "ochotn", "ocen", "vdecn"), 2.0),
        **dict.fromkeys(("diky", "dik", "dobr"), 1.9),
        **dict.fromkeys(("pekn", "hezk", "fajn", "pomohl", "vyres", "rad"), 1.5),
        "funguj": 1.0,
        **dict.fromkeys(("hrozn", "strasn", "nastvan", "katastrof"), -2.5),
        **dict.fromkeys(("spatn", "zklam", "otravn", "nekvalit", "nestastn"), -2.0),
        "stiznost": -1.0,
        "bohuzel": -0.8,
    },
    "ru": {
        **dict.fromkeys(("отличн", "прекрасн", "замечательн"), 2.5),
        **dict.fromkeys(("спасиб", "благодар", "супер", "класс", "доволен", "довольн", "молодц"), 2.0),
        **dict.fromkeys(("хорош", "рад", "рада", "помогл"), 1.5),
        **dict.fromkeys(("ужасн", "отвратительн", "кошмар", "возмущ"), -2.5),
        **dict.fromkeys(("плох", "недоволен", "недовольн", "разочаров"), -2.0),
        "жаль": -1.0,
        "к сожалению": -0.8,
    },
    "de": {
        "perfekt": 2.5,
        **dict.fromkeys(("dank", "super", "toll", "prima", "zufrieden", "hilfreich"), 2.0),
        "gut": 1.9,
        "freundlich": 1.5,
        **dict.fromkeys(("schrecklich", "furchtbar", "katastroph"), -2.5),
        **dict.fromkeys(("schlecht", "enttausch", "unzufrieden"), -2.0),
        "arger": -1.5,
        "leider": -0.8,
    },
}
# Stems match any ending ("vstřícní", "vstřícný"); the shortest need an exact word or they swallow others
# ("rad" is glad, "rada" is advice).
_EXACT = {"cs": {"rad", "dik", "super", "bezva", "fajn"}, "ru": {"рад", "рада", "супер", "жаль"}, "de": {"gut", "toll"}}
_NEGATORS = {
    "cs": frozenset("ne neni nebyl nebyla nebylo nebyli nejsem nejste nejsou nikdy".split()),
    "ru": frozenset("не нет ни никогда".split()),
    "de": frozenset("nicht kein keine keinen keiner nie niemals".split()),
}
_INTENSIFIERS = frozenset(
    "velmi moc hodne strasne fakt opravdu velice uplne очень большое огромное сильно крайне совсем sehr wirklich "
    "total echt vielen".split()
)
_NEGATION_WINDOW = 3
_EMOTICONS = {":)": 1.5, ":-)": 1.5, ":d": 2.0, "🙂": 1.5, "😊": 2.0, "👍": 1.5, "❤": 2.0, ":(": -1.5, ":-(": -1.5}
_EMOTICONS |= {"😞": -1.5, "😢": -1.5, "😠": -2.5, "😡": -2.5, "🤬": -3.0, "👎": -1.5}
_EMOTICON_RE = re.compile("|".join(re.escape(emoticon) for emoticon in _EMOTICONS))


def _stem_pattern(lexicon: dict[str, float], exact: set[str]) -> re.Pattern:
    stems = sorted((word for word in lexicon if " " not in word and word not in exact), key=len, reverse=True)
    # An optional "ne" prefix is Czech verb and adjective negation ("nepomohlo", "nespokojený").
    return re.compile(r"(ne)?(" + "|".join(stems) + r")\w*")


_STEMS = {language: _stem_pattern(lexicon, _EXACT[language]) for language, lexicon in _LEXICONS.items()}
_TOKEN_RE = re.compile(r"\w+|[.,;!?]")
_PUNCTUATION = ".,;:!?\"'()[]<>«»„“”-–—…"
_ACRONYMS = frozenset(
    "USD EUR CZK GBP RUB DPH VAT DHL UPS PPL GLS DPD FAQ PDF SMS API URL PIN CVV ETA ASAP FYI USB SSD LED HDMI "
    "IBAN GDPR".split()
)
_MIN_SHOUTED_WORDS = 2
_MIN_SHOUTED_LETTERS = 3
_MIN_CAPS_LETTERS = 12
_CAPS_SHARE = 0.6


def _normalised(raw: float) -> float:
    return raw / math.sqrt(raw * raw + _ALPHA)


def _unnormalised(compound: float) -> float:
    compound = max(-0.9999, min(0.9999, compound))
    return compound * math.sqrt(_ALPHA / (1 - compound * compound))


@lru_cache(maxsize=8192)
def _word_valence(language: str, word: str) -> float | None:
    """The lexicon valence of ``word``, already flipped when a Czech "ne" prefix negates it."""
    lexicon = _LEXICONS[language]
    if word in _EXACT[language]:
        return lexicon.get(word)
    match = _STEMS[language].fullmatch(word)
    if not match:
        return None
    value = lexicon[match[2]]
    return value * _NEGATION if match[1] and language == "cs" else value


def _lexicon_valence(text: str, language: str) -> float:
    lexicon, negators = _LEXICONS[language], _NEGATORS[language]
    total = sum(value for phrase, value in lexicon.items() if " " in phrase and phrase in text)
    negated_for = 0
    boost = 1.0
    for word in _TOKEN_RE.findall(text):
        if not word[0].isalnum():
            negated_for, boost = 0, 1.0
            continue
        if word in negators:
            negated_for = _NEGATION_WINDOW
            continue
        if word in _INTENSIFIERS:
            boost = _INTENSIFIER
            continue
        value = _word_valence(language, word)
        if value is not None:
            value *= boost
            if negated_for:
                value *= _NEGATION
                negated_for = 0
            total += value
            boost = 1.0
            continue
        negated_for = max(negated_for - 1, 0)
    return total


def _is_shouting(text: str) -> bool:
    upper = sum(map(str.isupper, text))
    if upper < _MIN_SHOUTED_WORDS * _MIN_SHOUTED_LETTERS:
        return False
    letters = sum(map(str.isalpha, text))
    if letters >= _MIN_CAPS_LETTERS and upper > _CAPS_SHARE * letters:
        return True
    words = (word.strip(_PUNCTUATION) for word in text.split())
    shouted = [
        word
        for word in words
        if len(word) >= _MIN_SHOUTED_LETTERS and word.isupper() and word.isalpha() and word not in _ACRONYMS
    ]
    return len(shouted) >= _MIN_SHOUTED_WORDS


def _base_valence(text: str, folded: str, language: str) -> float:
    """Unnormalised valence of the words themselves, before the support-specific rules."""
    if language in _LEXICONS:
        valence = _lexicon_valence(folded, language)
        valence += sum(_EMOTICONS[emoticon] for emoticon in _EMOTICON_RE.findall(text.lower()))
        if valence:
            emphasis = _EXCLAMATION * min(text.count("!"), 4)
            valence += emphasis if valence > 0 else -emphasis
        return valence
    return _unnormalised(_vader().polarity_scores(_FORMULAS_ANY_CASE.sub(" ", text))["compound"])


def sentiment_analyze(*, text: str, language: str) -> SentimentResult:
    """Sentiment, urgency and the signals behind them for one customer message."""
    language = language.lower().replace("_", "-").split("-")[0]
    folded = _FORMULAS.sub(" ", strip_diacritics(text.lower()).replace("’", "'"))
    signals = [name for name, pattern in _SIGNAL_PATTERNS.items() if pattern.search(folded)]
    if text.count("!") >= 2:
        signals.append("exclamations")
    valence = _base_valence(text, folded, language)
    # Capitals in a clearly happy message ("THANK YOU SO MUCH") are enthusiasm, not anger.
    if _is_shouting(text) and _normalised(valence) < _POSITIVE:
        signals.append("shouting")
    if "problem" in signals and "resolved" not in signals:
        valence += _PROBLEM_VALENCE
    anger = [signal for signal in signals if signal in _ANGER]
    valence += _ANGER_VALENCE * len(anger)
    # Writing again about something still broken is frustration even in polite words.
    chasing = "repeated_contact" in signals and (_normalised(valence) < _SOURISH or "problem" in signals)
    if chasing:
        valence += _ANGER_VALENCE
    score = round(_normalised(valence), 4)

    if "profanity" in anger or "legal_threat" in anger or len(anger) >= 2:
        sentiment = "angry"
    elif anger or chasing:
        sentiment = "frustrated"
    elif score <= _NEGATIVE:
        sentiment = "negative"
    elif score >= _POSITIVE:
        sentiment = "positive"
    else:
        sentiment = "neutral"
    if sentiment == "positive" and "repeated_contact" in signals:
        # "Thanks again!" is not a customer chasing an answer.
        signals.remove("repeated_contact")

    if "urgent_word" in signals or sentiment == "angry":
        urgency = "high"
    elif sentiment in ("negative", "frustrated") or "deadline" in signals:
        urgency = "medium"
    elif "problem" in signals and "resolved" not in signals and sentiment != "positive":
        urgency = "medium"
    else:
        urgency = "low"
    return SentimentResult(sentiment=sentiment, urgency=urgency, score=score, signals=tuple(signals))
