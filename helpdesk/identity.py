"""Who is on the other end of the widget: conversation tokens and verified customer identity.

An anonymous visitor holds a signed token that opens one conversation. An identified
customer arrives with ``identity_hash = HMAC-SHA256(WIDGET_IDENTITY_SECRET, external_id)``
computed by the host site's backend, in the manner of Intercom's identity verification;
only then is the conversation linked to the CRM customer and its account and order tools.
"""

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from crm.models import Customer

SIGNING_SALT = "helpdesk.conversation"


class IdentityError(ValueError):
    """The identity hash does not match the customer id (or the customer is unknown)."""


@dataclass(frozen=True)
class TokenClaims:
    conversation: uuid.UUID
    # The verified customer's pk, or None for an anonymous visitor.
    customer_id: int | None


def identity_hash_compute(*, external_id: str) -> str:
    """What the host site's backend computes and puts on the widget's script tag."""
    secret = settings.WIDGET_IDENTITY_SECRET.encode()
    return hmac.new(secret, external_id.encode(), hashlib.sha256).hexdigest()


def customer_verify(*, external_id: str, identity_hash: str) -> Customer:
    """The customer whose id the hash vouches for; ``IdentityError`` otherwise."""
    try:
        expected = identity_hash_compute(external_id=external_id)
    except UnicodeEncodeError as exc:
        # A lone surrogate cannot be encoded, so no host site could have signed this id.
        raise IdentityError("The identity hash does not match this customer id.") from exc
    given = (identity_hash or "").strip().lower()
    # compare_digest raises TypeError for a str that is not ASCII; such a hash matches nothing.
    if not given or not given.isascii() or not hmac.compare_digest(expected, given):
        raise IdentityError("The identity hash does not match this customer id.")
    # PostgreSQL refuses NUL in text; no customer's id has one.
    # An erased customer is gone: a host site that still signs their id gets "couldn't verify".
    customers = Customer.objects.filter(external_id=external_id, erased_at__isnull=True)
    customer = customers.first() if "\x00" not in external_id else None
    if customer is None:
        raise IdentityError("No customer has this id.")
    return customer


def conversation_token_issue(*, conversation_public_id: uuid.UUID, customer_id: int | None) -> str:
    signer = signing.TimestampSigner(salt=SIGNING_SALT)
    return signer.sign_object({"c": str(conversation_public_id), "u": customer_id}, compress=False)


def conversation_token_read(*, token: str) -> TokenClaims | None:
    """The token's claims if it is genuine and unexpired; ``None`` otherwise."""
    if not token or len(token) > 512:
        return None
    signer = signing.TimestampSigner(salt=SIGNING_SALT)
    try:
        payload = signer.unsign_object(token, max_age=settings.CONVERSATION_TOKEN_MAX_AGE)
        return TokenClaims(conversation=uuid.UUID(payload["c"]), customer_id=payload["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
