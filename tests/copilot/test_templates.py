"""The offline engine's localised sentences."""

import pytest

from copilot.llm.templates import vocative


@pytest.mark.parametrize(
    ("name", "addressed"),
    [
        ("Petr", "Petře"),
        ("Marek", "Marku"),
        ("Tomáš", "Tomáši"),
        ("Jana", "Jano"),
        ("Pavel", "Pavle"),
        ("Daniel", "Danieli"),
        ("Zdeněk", "Zdeňku"),
        ("Jiří", "Jiří"),
        ("Marie", "Marie"),
        ("Dagmar", "Dagmar"),
        ("Alexandr", "Alexandře"),
        ("Igor", "Igore"),
        ("Jakub", "Jakube"),
    ],
)
def test_czech_answers_address_the_customer_in_the_vocative(name, addressed):
    assert vocative("cs", name) == addressed
    assert vocative("en", name) == name
