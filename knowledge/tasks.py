from celery import shared_task

from knowledge.models import Article
from knowledge.services import article_index


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def article_index_task(article_id: int) -> int:
    """Index one article. Safe to run twice: unchanged content is skipped."""
    article = Article.objects.filter(pk=article_id).first()
    if article is None:
        return 0
    return article_index(article=article)
