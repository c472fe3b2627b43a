from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from knowledge.importing import FORMATS, ImportFormatError, kb_export


class Command(BaseCommand):
    help = "Export every article as a Markdown folder, a .csv or a .jsonl file that kb_import reads back."

    def add_arguments(self, parser):
        parser.add_argument("path", help="target folder (md) or file (csv, jsonl)")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file extension, md for a folder")

    def handle(self, *args, path: str, format: str | None, **options):
        target = Path(path)
        fmt = format or {".csv": "csv", ".jsonl": "jsonl"}.get(target.suffix.lower(), "md")
        try:
            count = kb_export(path=target, fmt=fmt)
        except (ImportFormatError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Exported {count} articles to {target} ({fmt})"))
