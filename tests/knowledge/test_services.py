import pytest
from django.db import connection

from knowledge.embeddings import embedder_get
from knowledge.models import Article, ArticleChunk
from knowledge.services import (
    article_content_hash,
    article_index,
    article_reindex_schedule,
    article_save,
    article_status_set,
)
from tests.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db

BODY = (
    "How refunds work.\n\n## Timeline\nRefunds arrive within 5 business days.\n\n## Card refunds\nBanks add 3-10 days."
)


def test_upsert_indexes_after_commit_with_vectors_and_full_text(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        article = article_save(
            article=Article(
                locale="en", slug="refunds", title="Refunds", body=BODY, category=CategoryFactory(), status="published"
            )
        )
    chunks = list(article.chunks.order_by("ordinal"))
    # Three short sections make one chunk that cites the top of the article.
    assert [c.anchor for c in chunks] == [""]
    assert "## Card refunds" in chunks[0].text
    assert all(len(c.embedding) == 384 for c in chunks)
    assert {c.embedding_model for c in chunks} == {embedder_get().model_name}
    article.refresh_from_db()
    assert article.published_at is not None
    assert len(article.title_embedding) == 384
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM knowledge_articlechunk WHERE article_id = %s "
            "AND search_vector @@ websearch_to_tsquery('english', 'business days')",
            [article.pk],
        )
        assert cursor.fetchone()[0] == 1


def test_unchanged_article_is_not_re_embedded():
    article = ArticleFactory(body=BODY)
    assert article_index(article=article) == 1
    first_ids = set(article.chunks.values_list("pk", flat=True))
    assert article_index(article=article) == 0
    assert set(article.chunks.values_list("pk", flat=True)) == first_ids


def test_changed_content_is_re_embedded():
    article = ArticleFactory(body=BODY)
    article_index(article=article)
    article.body = BODY + "\n\n## Store credit\nInstant."
    article.save()
    assert article_index(article=article) == 1
    assert article.chunks.filter(text__contains="## Store credit\nInstant.").exists()


def test_chunks_from_another_embedding_model_are_stale():
    article = ArticleFactory(body=BODY)
    article_index(article=article)
    old_hash = article_content_hash(article=article, model_name="old-model")
    Article.objects.filter(pk=article.pk).update(indexed_hash=old_hash)
    ArticleChunk.objects.filter(article=article).update(embedding_model="old-model")
    article.refresh_from_db()
    assert article_index(article=article) == 1
    assert set(article.chunks.values_list("embedding_model", flat=True)) == {embedder_get().model_name}


def test_similar_text_scores_higher_than_unrelated_text():
    embedder = embedder_get()
    query = embedder.embed_query("how long does a refund take")
    passages = embedder.embed_passages(["Refunds arrive within 5 business days.", "Pair the smart bulb over Wi-Fi."])
    scores = passages @ query
    assert scores[0] > scores[1]


def test_status_set_publishes_and_unpublishes():
    draft = ArticleFactory(status="draft", published_at=None)
    assert article_status_set(article_ids=[draft.pk], status="published") == 1
    draft.refresh_from_db()
    assert draft.is_published and draft.published_at is not None
    assert article_status_set(article_ids=[draft.pk], status="published") == 0
    assert article_status_set(article_ids=[draft.pk], status="draft") == 1


def test_reindex_schedule_forces_re_embedding(django_capture_on_commit_callbacks):
    article = ArticleFactory(body=BODY)
    article_index(article=article)
    first_ids = set(article.chunks.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        article_reindex_schedule(article_ids=[article.pk])
    assert set(article.chunks.values_list("pk", flat=True)).isdisjoint(first_ids)


def test_index_task_tolerates_a_deleted_article():
    from knowledge.tasks import article_index_task

    assert article_index_task.delay(987654).get() == 0


def test_publishing_a_never_indexed_draft_indexes_it(django_capture_on_commit_callbacks):
    draft = ArticleFactory(status="draft", published_at=None, body=BODY)
    assert not draft.chunks.exists()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        article_status_set(article_ids=[draft.pk], status="published")
    assert len(callbacks) == 1
    assert draft.chunks.exists()
