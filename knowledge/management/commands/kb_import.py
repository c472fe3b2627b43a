from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from knowledge.importing import ImportFormatError, kb_import, kb_rows_read


class Command(BaseCommand):
    help = (
        "Import articles from a folder of Markdown files with front matter, a .csv or a .jsonl file "
        "(fields: id, title, body, locale, category[, slug, tags, status]). Idempotent by id."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="folder of .md files, or a .csv / .jsonl file")
        parser.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")

    def handle(self, *args, path: str, no_progress: bool, **options):
        try:
            rows = kb_rows_read(path=Path(path))
        except ImportFormatError as exc:
            raise CommandError(str(exc)) from exc
        with tqdm(total=len(rows), unit="article", disable=no_progress, file=self.stderr) as bar:
            report = kb_import(rows=rows, on_row=lambda _row: bar.update())
        for problem in report.problems:
            self.stderr.write(f"skipped {problem.where}: {problem.message}")
        summary = (
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.skipped} skipped"
        )
        self.stdout.write(self.style.WARNING(summary) if report.problems else self.style.SUCCESS(summary))
