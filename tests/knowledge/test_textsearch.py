from knowledge.textsearch import simple_tsquery


def test_czech_stop_words_are_dropped_and_long_words_match_by_prefix():
    assert simple_tsquery(text="Jak sledovat zásilku?", locale="cs") == "sledov:* | zásil:*"
    assert simple_tsquery(text="Dobrý den, kde je moje faktura", locale="cs") == "faktu:*"


def test_short_words_match_exactly_and_repeats_collapse():
    assert simple_tsquery(text="PPL PPL kód E42", locale="cs") == "ppl | kód | e42"


def test_query_syntax_cannot_be_injected():
    query = simple_tsquery(text="a' | !b & c:* <-> (d)", locale="de")
    assert query == "a | b | c | d"
    assert simple_tsquery(text="?!", locale="cs") == ""
