import subprocess
import sys
from pathlib import Path

import pytest

from copilot.analysis.language import language_detect, strip_diacritics

CZECH_DEMO = [
    "Dobrý den, mám problém s mou objednávkou č. 12345",
    "Objednávka nebyla doručena včas a potřebuji ji urgentně",
    "Můžete mi pomoci s reklamací?",
    "Děkuji za pomoc, jste velmi vstřícní",
]


@pytest.mark.parametrize(
    "text, expected",
    [
        *[(sentence, "cs") for sentence in CZECH_DEMO],
        ("Dobry den, kde je moje objednavka?", "cs"),
        ("Dekuji moc, super", "cs"),
        ("Where is my order?", "en"),
        ("I haven't received my parcel yet", "en"),
        ("Где мой заказ?", "ru"),
        ("Мой заказ W1234567 не пришёл", "ru"),
        ("Wo ist meine Bestellung?", "de"),
        ("Die Lieferung ist zurück", "de"),
    ],
)
def test_detects_the_language(text, expected):
    # A default outside the supported codes proves the answer came from the text.
    assert language_detect(text=text, default="xx") == expected


@pytest.mark.parametrize("text", ["12345", "ok", "?", "", "   ", "#W1234567", "$20", "iPhone 15"])
@pytest.mark.parametrize("default", ["cs", "en"])
def test_nothing_decisive_returns_the_default(text, default):
    assert language_detect(text=text, default=default) == default


@pytest.mark.parametrize(
    "text, supported, expected",
    [
        ("Где мой заказ?", ("en", "cs"), "en"),
        ("Wo ist meine Bestellung?", ("en", "cs"), "en"),
        ("Where is my order?", ("cs", "de"), "en"),
        ("Dobrý den, kde je moje objednávka?", ("cs",), "cs"),
    ],
)
def test_only_supported_languages_are_returned(text, supported, expected):
    assert language_detect(text=text, default="en", supported=supported) == expected


@pytest.mark.parametrize("default", ["ru", "de", "cs"])
def test_the_demo_shops_english_questions_are_english_whatever_the_customers_usual_language(default):
    # The conversation starts in the customer's locale; a question in English must still get an English answer.
    from helpdesk.demo_history import QUESTIONS

    questions = [question.format(order="12345") for question in QUESTIONS["en"]]
    assert {q: language_detect(text=q, default=default) for q in questions} == dict.fromkeys(questions, "en")
    czech = QUESTIONS["cs"]
    assert {q: language_detect(text=q.format(order="1"), default="en") for q in czech} == dict.fromkeys(czech, "cs")


def test_one_shared_word_is_not_decisive():
    # "je" and "den" are Czech but too short and common to decide on their own.
    assert language_detect(text="den", default="en") == "en"


def test_strip_diacritics_keeps_length_and_letters_without_decomposition():
    text = "Děkuji, ŽLUŤOUČKÝ kůň; Grüße; ёлка, мой"
    folded = strip_diacritics(text)
    assert folded == "Dekuji, ZLUTOUCKY kun; Gruße; елка, мой"
    assert len(folded) == len(text)


def test_analysers_import_without_django():
    code = (
        "import sys\n"
        "import copilot.analysis.entities, copilot.analysis.language, copilot.analysis.sentiment\n"
        "assert not [name for name in sys.modules if name.split('.')[0] == 'django'], 'django imported'\n"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(  # noqa: S603 - fixed interpreter and code
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, env={}, check=False
    )
    assert result.returncode == 0, result.stderr
