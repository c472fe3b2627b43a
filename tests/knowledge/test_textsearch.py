from knowledge.textsearch import simple_terms


def test_czech_stop_words_are_dropped_and_long_words_match_by_prefix():
    assert simple_terms(text="Jak sledovat zásilku?", locale="cs") == [("sledov", True), ("zásil", True)]
    assert simple_terms(text="Dobrý den, kde je moje faktura", locale="cs") == [("faktu", True)]


def test_short_words_match_exactly_and_repeats_collapse():
    assert simple_terms(text="PPL PPL kód E42", locale="cs") == [("ppl", False), ("kód", False), ("e42", False)]


def test_only_word_characters_come_through():
    assert simple_terms(text="a' | !b & c:* <-> (d)", locale="de") == [
        ("a", False),
        ("b", False),
        ("c", False),
        ("d", False),
    ]
    assert simple_terms(text="?!", locale="cs") == []


def test_common_words_and_their_families_are_left_out():
    common = frozenset({"objednávka", "doprava"})
    terms = simple_terms(text="Kde je objednávku a doprava zásilky", locale="cs", exclude=common)
    assert terms == [("zásil", True)]
