import pytest
from django.db import transaction

from tests.assertions import assert_violates
from tests.factories import ArticleChunkFactory, ArticleFactory

pytestmark = pytest.mark.django_db


def test_article_slug_is_unique_per_locale():
    ArticleFactory(slug="returns", locale="en")
    ArticleFactory(slug="returns", locale="cs")
    assert_violates("knowledge_article_locale_slug_unique", lambda: ArticleFactory(slug="returns", locale="en"))


def test_published_article_needs_a_publication_date():
    assert_violates("knowledge_article_published_has_date", lambda: ArticleFactory(published_at=None))
    draft = ArticleFactory(status="draft", published_at=None)
    assert draft.is_published is False


def test_article_status_must_be_known():
    assert_violates("knowledge_article_status_valid", lambda: ArticleFactory(status="archived"))


def test_chunk_ordinal_is_unique_per_article():
    chunk = ArticleChunkFactory(ordinal=0)
    assert_violates(
        "knowledge_chunk_article_ordinal_unique", lambda: ArticleChunkFactory(article=chunk.article, ordinal=0)
    )


def test_chunk_embedding_has_384_dimensions():
    with pytest.raises(Exception, match="384"), transaction.atomic():
        ArticleChunkFactory(embedding=[0.1] * 10)


def test_search_config_follows_locale():
    assert ArticleFactory.build(locale="en").search_config == "english"
    assert ArticleFactory.build(locale="cs").search_config == "simple"
