import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from crm.models import Account, Customer, Order, OrderItem, Product

pytestmark = pytest.mark.django_db

TAU_DB = Path(__file__).resolve().parents[2].parent / "shared/eval-data/tau_bench/v1/retail/db.json"


@pytest.mark.skipif(not TAU_DB.is_file(), reason="shared/eval-data is not beside the repo")
def test_import_tau_retail_loads_the_dataset_idempotently(capsys):
    call_command("import_tau_retail", str(TAU_DB))
    first = (Customer.objects.count(), Account.objects.count(), Order.objects.count(), OrderItem.objects.count())
    call_command("import_tau_retail", str(TAU_DB))
    again = (Customer.objects.count(), Account.objects.count(), Order.objects.count(), OrderItem.objects.count())
    assert first == again == (500, 500, 1000, 2978)
    assert Product.objects.values("attributes__product_id").distinct().count() == 50
    assert "500 customers, 50 products" in capsys.readouterr().out

    order = Order.objects.get(number="W2611340")
    assert order.customer.external_id == "james_li_5688"
    assert order.status == Order.Status.PROCESSING
    assert order.items.count() == 2
    assert str(order.total) == "536.65"
    delivered = Order.objects.filter(status=Order.Status.DELIVERED)
    assert not delivered.filter(delivered_at__isnull=True).exists()


def test_import_tau_retail_rejects_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_tau_retail", str(tmp_path / "nope.json"))


def test_import_tau_retail_rejects_invalid_json(tmp_path):
    bad = tmp_path / "db.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("import_tau_retail", str(bad))


def test_import_tau_retail_rejects_another_dataset_and_loads_nothing(tmp_path):
    other = tmp_path / "db.json"
    other.write_text(json.dumps({"users": {}, "flights": {}, "reservations": {}}))
    with pytest.raises(CommandError, match="missing"):
        call_command("import_tau_retail", str(other))
    assert Customer.objects.count() == 0


def test_import_tau_retail_is_all_or_nothing(tmp_path):
    data = {
        "products": {},
        "users": {"u1": {"name": {"first_name": "A", "last_name": "B"}, "email": "a@example.com", "address": {}}},
        "orders": {
            "#W1": {"order_id": "#W1", "user_id": "u1", "status": "teleported", "items": [], "address": {}},
        },
    }
    path = tmp_path / "db.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="unknown status"):
        call_command("import_tau_retail", str(path))
    assert Customer.objects.count() == 0
