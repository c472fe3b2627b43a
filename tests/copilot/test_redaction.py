"""Masking personal data for an external model, and putting it back in the reply."""

import pytest

from copilot.llm.redaction import Redactor, StreamRestorer, luhn_valid

CARD = "4111 1111 1111 1111"  # a test Visa number: passes the Luhn check


def test_emails_phones_and_cards_become_placeholders_and_come_back():
    redactor = Redactor()
    text = f"I'm iva.nova@example.cz, call +420 777 000 111 or (555) 123-4567; card {CARD}."
    masked = redactor.redact(text)
    assert masked == "I'm [EMAIL_1], call [PHONE_1] or [PHONE_2]; card [CARD_1]."
    back = redactor.restore("Write to [EMAIL_1] or call [PHONE_2]; card [CARD_1] was charged.")
    assert back == "Write to iva.nova@example.cz or call (555) 123-4567; card •••• 1111 was charged."


def test_the_same_value_keeps_its_placeholder_across_the_turn():
    redactor = Redactor()
    assert redactor.redact("IVA.NOVA@example.cz") == "[EMAIL_1]"
    assert redactor.redact("again iva.nova@example.cz and bob@example.com") == "again [EMAIL_1] and [EMAIL_2]"
    assert redactor.redact("+420777000111") == "[PHONE_1]"
    assert redactor.redact("+420 777 000 111") == "[PHONE_1]"


@pytest.mark.parametrize(
    "text",
    [
        "Order 12345 was placed on 2026-11-10 and costs 1 249.90 EUR.",
        "Tracking BC123450001, delivered 10. 11. 2026.",
        "Refunds take 5 business days [1].",
        "Your account ACC-1001 is active.",
    ],
)
def test_what_the_answer_needs_is_left_alone(text):
    assert Redactor().redact(text) == text


def test_only_a_luhn_valid_number_is_a_card():
    assert luhn_valid(CARD)
    assert not luhn_valid("4111 1111 1111 1112")
    # Not a card, but a long run of digits is still masked, as a phone: too much masking is safe.
    assert Redactor().redact("ref 4111 1111 1111 1112") == "ref [PHONE_1]"


@pytest.mark.parametrize(
    "text, masked, restored",
    [
        # Beside an expiry date and a CVC: still the card, never a "phone" restored in full.
        (f"My card is {CARD} 12/27 123", "My card is [CARD_1] 12/27 123", "My card is •••• 1111 12/27 123"),
        ("card 4111.1111.1111.1111", "card [CARD_1]", "card •••• 1111"),
        ("4111–1111–1111–1111", "[CARD_1]", "•••• 1111"),
        ("4111\u00a01111\u00a01111\u00a01111", "[CARD_1]", "•••• 1111"),
        ("cc4111111111111111", "cc[CARD_1]", "cc•••• 1111"),
        ("5555 5555 5555 4444 and 4111111111111111", "[CARD_1] and [CARD_2]", "•••• 4444 and •••• 1111"),
        ("josé@example.com, user@müller.de", "[EMAIL_1], [EMAIL_2]", "josé@example.com, user@müller.de"),
    ],
)
def test_cards_and_emails_however_written_are_masked(text, masked, restored):
    redactor = Redactor()
    assert redactor.redact(text) == masked
    assert redactor.restore(masked) == restored


def test_a_long_reference_is_not_cut_into_a_card():
    # 20 digits without separators: no card of 13 to 19 digits begins and ends with it, whatever its windows.
    redactor = Redactor()
    assert redactor.redact("Tracking 41111111111111111112") == "Tracking [PHONE_1]"
    assert redactor.restore("[PHONE_1]") == "41111111111111111112"


def test_a_placeholder_the_model_invents_is_dropped():
    assert Redactor().restore("Mail [EMAIL_7] now") == "Mail  now"


def test_a_placeholder_split_across_stream_deltas_is_restored_whole():
    redactor = Redactor()
    redactor.redact("iva@example.cz")
    restorer = StreamRestorer(redactor)
    out = [restorer.feed(delta) for delta in ("We will write to [EM", "AIL", "_1] today [1", "]. Bye [")]
    out.append(restorer.flush())
    assert "".join(out) == "We will write to iva@example.cz today [1]. Bye ["
    assert out[0] == "We will write to "
