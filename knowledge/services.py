import hashlib
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import transaction
from django.db.models import Value
from django.utils import timezone
from pgvector.django import CosineDistance

from helpdesk.jobs import task_enqueue_on_commit
from knowledge.chunking import article_chunks
from knowledge.embeddings import embedder_get
from knowledge.models import Article, ArticleChunk, Category, KnowledgeGap


def category_upsert(*, slug: str, name: str, description: str = "", position: int = 0) -> Category:
    category, _ = Category.objects.update_or_create(
        slug=slug, defaults={"name": name, "description": description, "position": position}
    )
    return category


def article_save(*, article: Article) -> Article:
    """Save an edited article (admin or import) and schedule its indexing after commit."""
    if article.status == Article.Status.PUBLISHED and article.published_at is None:
        article.published_at = timezone.now()
    article.full_clean()
    article.save()
    article_index_schedule(article_id=article.pk)
    return article


def article_status_set(*, article_ids: list[int], status: str) -> int:
    """Publish or unpublish articles in bulk; returns how many changed."""
    now = timezone.now()
    changed = 0
    for article in Article.objects.filter(pk__in=article_ids).exclude(status=status):
        article.status = status
        if status == Article.Status.PUBLISHED and article.published_at is None:
            article.published_at = now
        article.save(update_fields=["status", "published_at", "updated_at"])
        if status == Article.Status.PUBLISHED:
            # A no-op when the chunks are current; rebuilds stale ones before customers see them.
            article_index_schedule(article_id=article.pk)
        changed += 1
    return changed


def articles_reindex(*, force: bool = False, on_article: Callable[[Article, int], None] | None = None) -> int:
    """Index every article now, skipping current ones unless ``force``; returns how many were rebuilt.

    Chunks embedded by another model, or by an older chunker, count as stale.
    """
    rebuilt = 0
    for article in Article.objects.order_by("pk").iterator(chunk_size=100):
        written = article_index(article=article, force=force)
        rebuilt += bool(written)
        if on_article:
            on_article(article, written)
    return rebuilt


def article_reindex_schedule(*, article_ids: list[int]) -> None:
    """Force re-chunking and re-embedding, e.g. after editing the chunker."""
    Article.objects.filter(pk__in=article_ids).update(indexed_hash="")
    for article_id in article_ids:
        article_index_schedule(article_id=article_id)


def article_index_schedule(*, article_id: int) -> None:
    from knowledge.tasks import article_index_task

    task_enqueue_on_commit(article_index_task, article_id)


# Bump when chunking or what gets embedded changes, so every article is re-indexed.
INDEX_VERSION = "2"


def article_content_hash(*, article: Article, model_name: str) -> str:
    payload = "\x1f".join([INDEX_VERSION, model_name, article.title, article.body])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def article_index(*, article: Article, force: bool = False) -> int:
    """Re-chunk and re-embed an article if its content or the embedding model changed.

    Returns the number of chunks written, 0 when the stored chunks were current.
    """
    embedder = embedder_get()
    content_hash = article_content_hash(article=article, model_name=embedder.model_name)
    if not force and article.indexed_hash == content_hash and article.chunks.exists():
        return 0

    chunks = article_chunks(title=article.title, body=article.body, count_tokens=embedder.count_tokens)
    # The title and heading go into each embedded text so short sections keep their topic;
    # the title also gets a vector of its own, since questions often paraphrase it.
    texts = [article.title] + [f"{article.title}. {c.heading}.\n{c.text}" for c in chunks]
    vectors = embedder.embed_passages(texts)
    title_vector, chunk_vectors = vectors[0], vectors[1:]
    with transaction.atomic():
        ArticleChunk.objects.filter(article=article).delete()
        ArticleChunk.objects.bulk_create(
            ArticleChunk(
                article=article,
                ordinal=chunk.ordinal,
                text=chunk.text,
                heading=chunk.heading,
                anchor=chunk.anchor,
                token_count=chunk.token_count,
                embedding=vector.tolist(),
                embedding_model=embedder.model_name,
            )
            for chunk, vector in zip(chunks, chunk_vectors, strict=True)
        )
        config = article.search_config
        ArticleChunk.objects.filter(article=article).update(
            search_vector=SearchVector(Value(article.title), config=config, weight="A")
            + SearchVector("heading", config=config, weight="A")
            + SearchVector("text", config=config, weight="B")
        )
        Article.objects.filter(pk=article.pk).update(indexed_hash=content_hash, title_embedding=title_vector.tolist())
    article.indexed_hash = content_hash
    return len(chunks)


MAX_GAP_EXAMPLES = 5


@transaction.atomic
def knowledge_gap_record(
    *, question: str, locale: str, confidence: float, embedding: np.ndarray | None = None
) -> KnowledgeGap:
    """Count a question the knowledge base could not answer confidently.

    A question close enough to an open gap in the same locale (cosine at least
    ``KB_GAP_SIMILARITY``) joins that gap; otherwise it opens a new one.
    """
    question = " ".join(question.split())[:1000]
    if not question:
        raise ValueError("A knowledge gap needs the question text.")
    confidence = min(1.0, max(0.0, float(confidence)))
    vector = embedding if embedding is not None else embedder_get().embed_query(question)
    now = timezone.now()
    nearest = (
        KnowledgeGap.objects.select_for_update()
        .filter(locale=locale, status=KnowledgeGap.Status.OPEN)
        .annotate(distance=CosineDistance("embedding", vector.tolist()))
        .order_by("distance")
        .first()
    )
    if nearest is not None and 1 - nearest.distance >= settings.KB_GAP_SIMILARITY:
        nearest.count += 1
        nearest.best_confidence = max(nearest.best_confidence, confidence)
        nearest.last_seen_at = now
        if question not in nearest.examples and question != nearest.question:
            nearest.examples = [question, *nearest.examples][:MAX_GAP_EXAMPLES]
        nearest.save(update_fields=["count", "best_confidence", "last_seen_at", "examples"])
        return nearest
    return KnowledgeGap.objects.create(
        question=question,
        locale=locale,
        embedding=vector.tolist(),
        best_confidence=confidence,
        last_seen_at=now,
    )


def knowledge_gap_status_set(*, gap_ids: list[int], status: str) -> int:
    return KnowledgeGap.objects.filter(pk__in=gap_ids).exclude(status=status).update(status=status)
