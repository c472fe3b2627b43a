from django.core.management.base import BaseCommand
from tqdm import tqdm

from knowledge.models import Article
from knowledge.services import articles_reindex


class Command(BaseCommand):
    help = "Rebuild stale chunks (another embedding model, changed content or chunker); --all rebuilds everything."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", dest="force", help="re-embed every article")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, force: bool, no_progress: bool, **options):
        with tqdm(total=Article.objects.count(), unit="article", disable=no_progress, file=self.stderr) as bar:
            rebuilt = articles_reindex(force=force, on_article=lambda _article, _written: bar.update())
        self.stdout.write(self.style.SUCCESS(f"Re-embedded {rebuilt} articles"))
