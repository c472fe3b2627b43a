import pytest

from copilot.analysis import sentiment
from copilot.analysis.sentiment import SENTIMENTS, URGENCIES, SentimentResult, sentiment_analyze


def analyze(text: str, language: str = "en") -> SentimentResult:
    return sentiment_analyze(text=text, language=language)


@pytest.mark.parametrize(
    "text, language, sentiments, urgencies",
    [
        ("Dobrý den, mám problém s mou objednávkou č. 12345", "cs", {"neutral", "negative"}, {"medium"}),
        ("Objednávka nebyla doručena včas a potřebuji ji urgentně", "cs", {"negative", "frustrated"}, {"high"}),
        ("Můžete mi pomoci s reklamací?", "cs", {"neutral"}, {"low", "medium"}),
        ("Děkuji za pomoc, jste velmi vstřícní", "cs", {"positive"}, {"low"}),
        ("Dekuji moc, super", "cs", {"positive"}, {"low"}),
        ("I want to speak to a manager, this is ridiculous!", "en", {"angry"}, {"high"}),
        ("THIS IS THE THIRD TIME I AM WRITING", "en", {"angry", "frustrated"}, set(URGENCIES)),
        ("Спасибо большое, всё отлично", "ru", {"positive"}, {"low"}),
        ("Это безобразие, я подам в суд", "ru", {"angry"}, {"high"}),
        ("Thanks, that solved it!", "en", {"positive"}, {"low"}),
        ("Where is my parcel?", "en", {"neutral"}, {"low"}),
        ("I'm not happy", "en", {"negative"}, {"medium"}),
    ],
)
def test_demo_messages(text, language, sentiments, urgencies):
    result = analyze(text, language)
    assert result.sentiment in sentiments
    assert result.urgency in urgencies


@pytest.mark.parametrize(
    "text, language, signal",
    [
        ("I want to speak to a manager, this is ridiculous!", "en", "manager"),
        ("I want to speak to a manager, this is ridiculous!", "en", "outrage"),
        ("THIS IS THE THIRD TIME I AM WRITING", "en", "shouting"),
        ("THIS IS THE THIRD TIME I AM WRITING", "en", "repeated_contact"),
        ("Chci mluvit s vedoucím", "cs", "manager"),
        ("Позовите руководителя", "ru", "manager"),
        ("I will sue you", "en", "legal_threat"),
        ("Obrátím se na právníka", "cs", "legal_threat"),
        ("Это безобразие, я подам в суд", "ru", "legal_threat"),
        ("wtf is going on", "en", "profanity"),
        ("To je kurva drahé", "cs", "profanity"),
        ("This is a scam", "en", "outrage"),
        ("To je podvod", "cs", "outrage"),
        ("Thanks, that solved it!", "en", "gratitude"),
        ("Thanks, that solved it!", "en", "resolved"),
        ("Need it by Friday", "en", "deadline"),
        ("Potřebuji to do pátku", "cs", "deadline"),
        ("Where is it?!!", "en", "exclamations"),
        ("Can I talk to a real person?", "en", "human_request"),
        ("Chci mluvit s člověkem", "cs", "human_request"),
        ("I was charged twice", "en", "problem"),
        ("Zásilka nedorazila", "cs", "problem"),
        ("Посылка не пришла", "ru", "problem"),
    ],
)
def test_signals(text, language, signal):
    assert signal in analyze(text, language).signals


@pytest.mark.parametrize(
    "text, language, sentiment",
    [
        ("What the fuck, where is my money", "en", "angry"),
        ("Where is my order, I will contact my lawyer", "en", "angry"),
        ("Pokud to nevyřešíte, podám žalobu", "cs", "angry"),
        ("YOU ARE USELESS, WHERE IS MY PARCEL", "en", "frustrated"),
        ("This is unacceptable", "en", "frustrated"),
        ("My parcel still hasn't arrived", "en", "frustrated"),
        ("Zase mi nedorazila zásilka", "cs", "frustrated"),
        ("Посылка до сих пор не пришла", "ru", "frustrated"),
        ("The item arrived damaged", "en", "negative"),
        ("Nejsem spokojený", "cs", "negative"),
        ("Nejsem spokojeny", "cs", "negative"),
        ("To nebylo dobré", "cs", "negative"),
        ("Není to dobré", "cs", "negative"),
        ("Nepomohlo to, je to špatné", "cs", "negative"),
        ("Не очень хорошо", "ru", "negative"),
        ("Das ist nicht gut", "de", "negative"),
        ("Vielen Dank, super!", "de", "positive"),
        ("Děkuji, problém je vyřešen", "cs", "positive"),
        ("THANK YOU SO MUCH", "en", "positive"),
        ("Thanks again!", "en", "positive"),
        ("Can you please help me with my order?", "en", "neutral"),
        ("Good morning, where is my parcel?", "en", "neutral"),
        ("Dobrý den, kde je moje zásilka?", "cs", "neutral"),
        ("I paid in USD via DHL", "en", "neutral"),
    ],
)
def test_sentiment(text, language, sentiment):
    assert analyze(text, language).sentiment == sentiment


@pytest.mark.parametrize(
    "text, language",
    [
        ("I need this asap", "en"),
        ("Please send it immediately", "en"),
        ("Potřebuji to okamžitě", "cs"),
        ("Spěchá to, co nejdříve prosím", "cs"),
        ("Срочно нужен ответ", "ru"),
        ("Bitte dringend antworten", "de"),
        ("I will sue you", "en"),
    ],
)
def test_high_urgency(text, language):
    assert analyze(text, language).urgency == "high"


@pytest.mark.parametrize(
    "text, language",
    [
        ("I haven't received my order", "en"),
        ("I was charged twice", "en"),
        ("Mám zpoždění zásilky", "cs"),
        ("Проблема с заказом", "ru"),
        ("I need it by Friday", "en"),
    ],
)
def test_medium_urgency(text, language):
    assert analyze(text, language).urgency == "medium"


@pytest.mark.parametrize(
    "text, language",
    [
        ("Thanks, that solved my problem!", "en"),
        ("Dejte mi vědět, hned jak dorazí", "cs"),
        ("Děkuji, problém je vyřešen", "cs"),
        ("Проблема решена, спасибо", "ru"),
    ],
)
def test_low_urgency(text, language):
    assert analyze(text, language).urgency == "low"


def test_czech_without_diacritics_scores_the_same():
    assert analyze("Děkuji moc, jste skvělí", "cs") == analyze("Dekuji moc, jste skveli", "cs")


def test_negation_flips_the_czech_score():
    assert analyze("Jsem spokojený", "cs").score > 0 > analyze("Nejsem spokojený", "cs").score
    assert analyze("Pomohlo to", "cs").score > 0 > analyze("Nepomohlo to", "cs").score


def test_negation_ends_at_punctuation():
    assert analyze("Ne super", "cs").score < 0
    assert analyze("Ne. Super", "cs").sentiment == "positive"


@pytest.mark.parametrize(
    "text, language",
    [("No problem, thanks!", "en"), ("Není to problém, díky", "cs"), ("Без проблем, спасибо", "ru")],
)
def test_no_problem_is_not_a_problem(text, language):
    result = analyze(text, language)
    assert "problem" not in result.signals
    assert (result.sentiment, result.urgency) == ("positive", "low")


def test_capitalised_enthusiasm_is_not_shouting():
    assert "shouting" not in analyze("THANK YOU SO MUCH").signals
    assert "shouting" not in analyze("Sent via DHL, paid in USD, got the PDF").signals


def test_polite_request_words_do_not_make_a_request_positive():
    assert analyze("Please help me, my order is late").score < 0


def test_thanks_again_is_not_repeated_contact():
    assert "repeated_contact" not in analyze("Thanks again!").signals


@pytest.mark.parametrize("language", ["en-US", "cs_CZ", "CS"])
def test_regional_language_codes_are_accepted(language):
    assert analyze("Děkuji, super" if language.lower().startswith("cs") else "Thanks, great!", language).sentiment == (
        "positive"
    )


@pytest.mark.parametrize(
    "text, language",
    [
        ("", "en"),
        ("12345", "cs"),
        ("Merci beaucoup, c'est parfait", "fr"),
        ("!!!???", "ru"),
        ("I want to speak to a manager, this is ridiculous!", "en"),
        ("FUCK THIS SHIT, I WANT MY MONEY BACK NOW, I AM CALLING MY LAWYER", "en"),
        ("Děkuji, děkuji, děkuji, jste úžasní a skvělí, perfektní, výborní!!!!", "cs"),
    ],
)
def test_result_is_always_well_formed(text, language):
    result = analyze(text, language)
    assert result.sentiment in SENTIMENTS
    assert result.urgency in URGENCIES
    assert -1 <= result.score <= 1
    assert isinstance(result.signals, tuple)
    assert len(set(result.signals)) == len(result.signals)


def test_vader_is_built_once_and_reused():
    analyze("Thanks!")
    analyze("Where is my parcel?")
    assert sentiment._vader() is sentiment._vader()
    assert sentiment._vader.cache_info().currsize == 1


def test_long_message_completes():
    # No timing assertion; a catastrophic regex would hang the run instead.
    text = "Still not arrived!!! WHERE IS IT " * 300 + "ne ne ne ne dobre " * 300
    assert analyze(text, "cs").sentiment == "frustrated"
