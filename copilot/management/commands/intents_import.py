import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from copilot.services import intent_examples_embed, intents_import

INTENT_COLUMNS = ("intent", "category", "label")


class Command(BaseCommand):
    help = "Import intent examples from a CSV with the columns text,intent (category or label also work)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--replace", action="store_true", help="make this file the whole taxonomy")
        parser.add_argument("--no-embed", action="store_true", help="leave embedding to the first classification")

    def handle(self, *args, path: Path, replace: bool, no_embed: bool, **options):
        try:
            handle = path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
        with handle:
            reader = csv.DictReader(handle)
            columns = [name.strip().lower() for name in reader.fieldnames or []]
            intent_column = next((name for name in INTENT_COLUMNS if name in columns), None)
            if "text" not in columns or intent_column is None:
                raise CommandError(f"{path} needs a 'text' column and an 'intent' column; it has {columns}.")
            reader.fieldnames = columns
            try:
                summary = intents_import(
                    rows=((row.get("text") or "", row.get(intent_column) or "") for row in reader), replace=replace
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        for error in summary.errors[:20]:
            self.stderr.write(f"skipped {error}")
        embedded = 0 if no_embed else intent_examples_embed()
        self.stdout.write(
            f"Imported {summary.examples_created} examples ({summary.examples_skipped} already there) into "
            f"{summary.intents_created} new intents; removed {summary.intents_removed} intents; "
            f"{len(summary.errors)} bad rows; embedded {embedded} examples."
        )
