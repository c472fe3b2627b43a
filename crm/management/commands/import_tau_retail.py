import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from crm.services import tau_retail_import

DEFAULT_PATH = "../shared/eval-data/tau_bench/v1/retail/db.json"


class Command(BaseCommand):
    help = "Load the tau-bench retail database (500 users, 1,000 orders, 50 products) into the CRM."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=DEFAULT_PATH, help=f"db.json (default {DEFAULT_PATH})")

    def handle(self, *args, path: str, **options):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CommandError(f"{file} is not valid JSON: {exc}") from exc
        try:
            counts = tau_retail_import(data=data, now=timezone.now())
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"{file} is not a tau-bench retail database: {exc}") from exc
        self.stdout.write(self.style.SUCCESS("Imported " + ", ".join(f"{v} {k}" for k, v in counts.items())))
