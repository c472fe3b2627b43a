"""Integer query parameters, bounded before Python or PostgreSQL sees them.

``int()`` refuses a string of more than 4,300 digits with a ``ValueError``, accepts Unicode digits
("١") and signs, and what it returns may not fit a ``bigint`` column; each of those was a 500
or a lookup PostgreSQL could not run. ``query_int`` is a 400 naming the parameter instead."""

from rest_framework import exceptions
from rest_framework.request import Request

# PostgreSQL's bigint, the type of every id here (DEFAULT_AUTO_FIELD is BigAutoField).
BIGINT_MAX = 2**63 - 1
# Digits of BIGINT_MAX: anything longer is out of range before int() is asked.
_MAX_DIGITS = len(str(BIGINT_MAX))


def query_int(
    request: Request, name: str, *, default: int, minimum: int = 0, maximum: int = BIGINT_MAX, message: str = ""
) -> int:
    """The query parameter ``name`` as an int in [minimum, maximum] (``default`` when absent);
    a ``ValidationError`` (400) naming the parameter otherwise. ASCII digits only, no sign."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    refusal = exceptions.ValidationError({name: message or f"A whole number from {minimum} to {maximum}."})
    if not (raw.isascii() and raw.isdigit()) or len(raw.lstrip("0")) > _MAX_DIGITS:
        raise refusal
    value = int(raw)
    if not minimum <= value <= maximum:
        raise refusal
    return value
