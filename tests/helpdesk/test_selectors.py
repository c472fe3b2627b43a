"""conversation_get_for_customer: a customer reaches only their own conversations."""

import pytest

from helpdesk.selectors import conversation_get_for_customer
from tests.factories import ConversationFactory, CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    return CustomerFactory()


@pytest.fixture
def conversation(customer):
    return ConversationFactory(customer=customer)


@pytest.mark.parametrize(
    "ref",
    [
        lambda c: c.pk,
        lambda c: str(c.pk),
        lambda c: f"  {c.pk}\n",
        lambda c: str(c.public_id),
        lambda c: str(c.public_id).upper(),
        lambda c: c.public_id,
        lambda c: c.public_id.hex,
    ],
    ids=["pk", "pk-text", "pk-padded", "public-id", "public-id-upper", "uuid-object", "public-id-hex"],
)
def test_own_conversation_by_pk_or_public_id(customer, conversation, ref):
    ConversationFactory()
    assert conversation_get_for_customer(customer=customer, conversation_id=ref(conversation)) == conversation


@pytest.mark.parametrize("by", ["pk", "public_id"])
def test_another_customers_conversation_is_not_found(customer, conversation, by):
    theirs = ConversationFactory()
    ref = getattr(theirs, by)
    assert conversation_get_for_customer(customer=customer, conversation_id=ref) is None
    assert conversation_get_for_customer(customer=theirs.customer, conversation_id=ref) == theirs


def test_without_a_customer_only_anonymous_conversations_are_reachable(conversation):
    anonymous = ConversationFactory(customer=None)
    assert conversation_get_for_customer(customer=None, conversation_id=anonymous.pk) == anonymous
    assert conversation_get_for_customer(customer=None, conversation_id=str(anonymous.public_id)) == anonymous
    assert conversation_get_for_customer(customer=None, conversation_id=conversation.pk) is None
    assert conversation_get_for_customer(customer=None, conversation_id=str(conversation.public_id)) is None


def test_a_customer_cannot_reach_an_anonymous_conversation(customer):
    anonymous = ConversationFactory(customer=None)
    assert conversation_get_for_customer(customer=customer, conversation_id=anonymous.pk) is None
    assert conversation_get_for_customer(customer=customer, conversation_id=anonymous.public_id) is None


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "   ",
        "abc",
        "-1",
        "1.5",
        "12abc",
        "0",
        "99999999999999999999",
        "not-a-uuid-at-all",
        "6f1c1c0e-8d3b-4c1e-9a52-0b7e7a4f2d11",
    ],
)
def test_garbage_or_unknown_ids_find_nothing(customer, conversation, ref):
    assert conversation_get_for_customer(customer=customer, conversation_id=ref) is None


def test_a_non_ascii_digit_finds_nothing(customer, conversation):
    assert conversation_get_for_customer(customer=customer, conversation_id="²") is None
