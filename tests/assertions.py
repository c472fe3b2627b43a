import pytest
from django.db import IntegrityError, transaction


def assert_violates(constraint: str, create) -> None:
    """Assert that ``create()`` is rejected by the named database constraint."""
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        create()
