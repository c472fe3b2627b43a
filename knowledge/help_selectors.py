"""Reads for the public help centre that ``knowledge.selectors`` does not cover."""

from knowledge.models import Article


def article_list_uncategorized(*, locale: str) -> list[Article]:
    """Published articles in ``locale`` without a category, which the per-category lists would miss."""
    return list(
        Article.objects.filter(status=Article.Status.PUBLISHED, locale=locale, category__isnull=True).order_by("title")
    )


def article_list_related(*, article: Article, limit: int = 10) -> list[Article]:
    """Other published articles in the same category and locale as ``article``."""
    if article.category_id is None:
        return []
    return list(
        Article.objects.filter(status=Article.Status.PUBLISHED, locale=article.locale, category_id=article.category_id)
        .exclude(pk=article.pk)
        .order_by("title")[:limit]
    )
