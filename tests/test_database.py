"""The database is PostgreSQL with pgvector, and chunk search uses the HNSW index."""

import pytest
from django.db import connection
from pgvector.django import CosineDistance

from knowledge.models import ArticleChunk
from tests.factories import ArticleChunkFactory, unit_vector

pytestmark = pytest.mark.django_db


def test_database_is_postgresql_with_pgvector():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    assert row is not None, "the vector extension is not installed"
    major, minor, *_ = (int(part) for part in row[0].split("."))
    assert (major, minor) >= (0, 8)


def test_test_database_is_separate_from_dev_database():
    assert connection.settings_dict["NAME"].startswith("test_")


def test_nearest_neighbour_query_uses_hnsw_index():
    ArticleChunkFactory.create_batch(30)
    query = ArticleChunk.objects.order_by(CosineDistance("embedding", unit_vector(999)))[:5]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        # A 30-row table is cheaper to scan; forbid that so the plan shows what the index can do.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "knowledge_chunk_embedding_hnsw" in plan, plan
    assert "Index Scan" in plan, plan


def test_nearest_neighbour_returns_closest_chunk_first():
    chunks = ArticleChunkFactory.create_batch(10)
    target = chunks[4]
    nearest = ArticleChunk.objects.order_by(CosineDistance("embedding", target.embedding)).first()
    assert nearest == target
