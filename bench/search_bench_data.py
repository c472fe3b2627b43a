"""Synthetic knowledge-base data for ``bench/search_bench.py``: clustered vectors and support-like text.

Vectors. Uniformly random 384-d vectors are an unrealistically hard case for HNSW (every
point is about equally far from every other), so chunks are drawn from a hierarchy that
looks like a real embedding model's output:

    x = G*m + topic + A*(B_topic @ z_article) + C*(D_topic @ z_chunk) + E*iso,   then normalised

- ``m``: one direction shared by every vector (e5-style anisotropy: unrelated texts still
  score ~0.75 cosine),
- ``topic``: one of a few hundred random centres,
- ``B_topic @ z_article``: the article's offset inside its topic, in a 16-d subspace of that topic,
- ``D_topic @ z_chunk``: the chunk's offset inside its article, in another 16-d subspace,
- ``iso``: a little isotropic noise in all 384 dimensions.

The weights give cosine ~0.75 across topics, ~0.85 within a topic and ~0.91 within an
article. Queries are drawn the same way from a random existing article with fresh, larger
chunk-level noise, so they are never identical to a stored point (top-1 cosine ~0.88, like a
real question against its article).

Text. Each chunk is 150-230 words sampled from the word distribution of one demo article
(the topic's, 90%) mixed with the whole demo knowledge base's (10%), in the article's locale,
so full-text search behaves like it does on the real demo knowledge base: the selector's
OR-ed tsquery of a support question matches about 60% of the chunks.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DIMENSIONS = 384
WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
HEADING_RE = re.compile(r"^#{2,3}\s+(.+?)\s*$", re.MULTILINE)
SLUG_RE = re.compile(r"[^a-z0-9]+")


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    lines = text.lstrip("\ufeff").splitlines()
    end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    meta = {}
    for line in lines[1:end]:
        key, _, value = line.partition(":")
        meta[key.strip().lower()] = value.strip()
    return meta, "\n".join(lines[end + 1 :])


@dataclass
class DemoDoc:
    slug: str
    title: str
    category: str
    headings: list[str]
    words: np.ndarray  # indices into the locale's vocabulary, in reading order


@dataclass
class LocaleText:
    vocab: np.ndarray  # object array of words
    docs: list[DemoDoc]
    all_words: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def demo_text(demo_dir: Path, locale: str) -> LocaleText:
    index: dict[str, int] = {}
    docs = []
    for path in sorted((demo_dir / locale).glob("*.md")):
        meta, body = _front_matter(path.read_text(encoding="utf-8"))
        words = [index.setdefault(w, len(index)) for w in WORD_RE.findall(body)]
        headings = HEADING_RE.findall(body) or [meta["title"]]
        docs.append(
            DemoDoc(
                slug=path.stem,
                title=meta["title"],
                category=meta.get("category", "general"),
                headings=headings,
                words=np.asarray(words, dtype=np.int64),
            )
        )
    vocab = np.empty(len(index), dtype=object)
    for word, i in index.items():
        vocab[i] = word
    return LocaleText(vocab=vocab, docs=docs, all_words=np.concatenate([d.words for d in docs]))


def slugify(text: str) -> str:
    return SLUG_RE.sub("-", text.lower()).strip("-")[:100] or "section"


@dataclass
class Batch:
    """Rows to append: articles first, then their chunks."""

    article_ids: np.ndarray
    article_titles: list[str]
    article_slugs: list[str]
    article_locales: list[str]
    article_categories: list[str]
    title_vectors: np.ndarray
    chunk_ids: np.ndarray
    chunk_article_ids: np.ndarray
    chunk_ordinals: np.ndarray
    chunk_texts: list[str]
    chunk_headings: list[str]
    chunk_anchors: list[str]
    chunk_token_counts: np.ndarray
    chunk_vectors: np.ndarray


class KnowledgeBaseGenerator:
    """Appends articles of 3-7 chunks until the knowledge base has the requested number of chunks."""

    GLOBAL = 2.74  # G: shared direction, G^2 = 7.5
    ARTICLE = 0.775  # A: article offset inside its topic, A^2 = 0.6
    CHUNK = 0.775  # C: chunk offset inside its article, C^2 = 0.6
    ISO = 0.55  # E: isotropic noise, E^2 = 0.3
    QUERY_NOISE = 1.5  # queries get this much more chunk-level noise than chunks
    SUBSPACE = 16
    CS_SHARE = 0.10
    # Share of a chunk's words drawn from its topic's demo article (the rest from the whole demo KB);
    # 0.9 makes the production OR-ed tsquery match ~60% of chunks, as it does on the real demo KB.
    OWN_WORDS = 0.9

    def __init__(self, *, seed: int, topics: int, en: LocaleText, cs: LocaleText) -> None:
        self.rng = np.random.default_rng(seed)
        self.topics = topics
        self.text = {"en": en, "cs": cs}
        d, k = DIMENSIONS, self.SUBSPACE
        mean = self.rng.standard_normal(d)
        self.mean = mean / np.linalg.norm(mean)
        self.centres = self.rng.standard_normal((topics, d)) / np.sqrt(d)
        # Orthonormal bases of each topic's article and chunk subspaces.
        self.article_basis = np.linalg.qr(self.rng.standard_normal((topics, d, k)))[0]
        self.chunk_basis = np.linalg.qr(self.rng.standard_normal((topics, d, k)))[0]
        self.article_topic = np.empty(0, dtype=np.int64)
        self.article_z = np.empty((0, k))
        self.article_locale: list[str] = []
        self.n_articles = 0
        self.n_chunks = 0

    def describe(self) -> str:
        return (
            f"x = {self.GLOBAL}*m + topic[{self.topics}] + {self.ARTICLE}*B_t@z_article(16-d) "
            f"+ {self.CHUNK}*D_t@z_chunk(16-d) + {self.ISO}*iso(384-d), normalised; "
            f"queries: same from a random stored article with chunk noise x{self.QUERY_NOISE}"
        )

    def _vectors(self, topics: np.ndarray, article_z: np.ndarray, noise: float, title: bool = False) -> np.ndarray:
        n, d, k = len(topics), DIMENSIONS, self.SUBSPACE
        x = self.GLOBAL * self.mean + self.centres[topics]
        chunk_z = self.rng.standard_normal((n, k)) / np.sqrt(k)
        chunk_scale = self.CHUNK * noise * (0.5 if title else 1.0)
        for topic in np.unique(topics):
            rows = np.flatnonzero(topics == topic)
            x[rows] += self.ARTICLE * article_z[rows] @ self.article_basis[topic].T
            x[rows] += chunk_scale * chunk_z[rows] @ self.chunk_basis[topic].T
        x += self.ISO * noise * self.rng.standard_normal((n, d)) / np.sqrt(d)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32)

    def _chunk_texts(self, locale: str, topics: np.ndarray) -> tuple[list[str], np.ndarray]:
        """One text per topic in ``topics``, its words from the topic's demo article and the whole demo KB."""
        text = self.text[locale]
        if not len(topics):
            return [], np.empty(0, dtype=np.int64)
        lengths = np.asarray([len(d.words) for d in text.docs])
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        doc = topics % len(text.docs)
        n_words = self.rng.integers(150, 231, len(topics))
        word_doc = np.repeat(doc, n_words)
        own = self.rng.random(len(word_doc)) < self.OWN_WORDS
        own_pick = offsets[word_doc] + (self.rng.random(len(word_doc)) * lengths[word_doc]).astype(np.int64)
        any_pick = self.rng.integers(0, len(text.all_words), len(word_doc))
        words = text.vocab[text.all_words[np.where(own, own_pick, any_pick)]].tolist()
        texts = []
        start = 0
        for n in n_words.tolist():
            sentences = []
            for s in range(start, start + n, 12):
                sentence = " ".join(words[s : min(s + 12, start + n)])
                sentences.append(sentence[:1].upper() + sentence[1:] + ".")
            texts.append(" ".join(sentences))
            start += n
        # e5's sentencepiece tokenizer averages about 1.3 tokens per word on this text.
        return texts, np.round(n_words * 1.3).astype(np.int64)

    def grow(self, target_chunks: int) -> Batch:
        """Add articles (and their chunks) until there are ``target_chunks`` chunks."""
        need = target_chunks - self.n_chunks
        sizes: list[int] = []
        total = 0
        while total < need:
            sizes.append(int(self.rng.integers(3, 8)))
            total += sizes[-1]
        if sizes:
            sizes[-1] -= total - need
        n_new = len(sizes)
        topics = self.rng.integers(0, self.topics, n_new)
        article_z = self.rng.standard_normal((n_new, self.SUBSPACE)) / np.sqrt(self.SUBSPACE)
        locales = ["cs" if r < self.CS_SHARE else "en" for r in self.rng.random(n_new)]
        article_ids = np.arange(self.n_articles + 1, self.n_articles + n_new + 1)

        titles, slugs, categories = [], [], []
        for article_id, topic, locale in zip(article_ids, topics, locales, strict=True):
            text = self.text[locale]
            doc = text.docs[topic % len(text.docs)]
            extra = " ".join(text.vocab[doc.words[self.rng.integers(0, len(doc.words), 2)]])
            titles.append(f"{doc.title}: {extra}")
            slugs.append(f"{doc.slug}-{article_id}")
            categories.append(doc.category)

        chunk_article = np.repeat(np.arange(n_new), sizes)
        ordinals = np.concatenate([np.arange(s) for s in sizes]) if sizes else np.empty(0, dtype=np.int64)
        chunk_locale = np.asarray(locales, dtype=object)[chunk_article] if n_new else np.empty(0, dtype=object)
        chunk_topic = topics[chunk_article]
        texts: list[str] = [""] * len(chunk_article)
        tokens = np.zeros(len(chunk_article), dtype=np.int64)
        for locale in ("en", "cs"):
            rows = np.flatnonzero(chunk_locale == locale)
            locale_texts, locale_tokens = self._chunk_texts(locale, chunk_topic[rows])
            for row, body in zip(rows.tolist(), locale_texts, strict=True):
                texts[row] = body
            tokens[rows] = locale_tokens
        headings, anchors = [], []
        for a, ordinal in zip(chunk_article.tolist(), ordinals.tolist(), strict=True):
            docs = self.text[locales[a]].docs
            doc = docs[int(topics[a]) % len(docs)]
            heading = doc.headings[ordinal % len(doc.headings)]
            headings.append(heading)
            anchors.append(slugify(heading))

        batch = Batch(
            article_ids=article_ids,
            article_titles=titles,
            article_slugs=slugs,
            article_locales=locales,
            article_categories=categories,
            title_vectors=self._vectors(topics, article_z, noise=1.0, title=True),
            chunk_ids=np.arange(self.n_chunks + 1, self.n_chunks + len(chunk_article) + 1),
            chunk_article_ids=article_ids[chunk_article],
            chunk_ordinals=ordinals,
            chunk_texts=texts,
            chunk_headings=headings,
            chunk_anchors=anchors,
            chunk_token_counts=tokens,
            chunk_vectors=self._vectors(topics[chunk_article], article_z[chunk_article], noise=1.0),
        )
        self.article_topic = np.concatenate([self.article_topic, topics])
        self.article_z = np.concatenate([self.article_z, article_z])
        self.article_locale.extend(locales)
        self.n_articles += n_new
        self.n_chunks += len(chunk_article)
        return batch

    def queries(self, n: int, locale: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` query vectors, each near a random stored article (of ``locale`` if given).

        Returns the vectors and the indices of the articles they were drawn from.
        """
        pool = np.arange(self.n_articles)
        if locale is not None:
            pool = pool[np.asarray(self.article_locale) == locale]
        articles = pool[self.rng.integers(0, len(pool), n)]
        vectors = self._vectors(self.article_topic[articles], self.article_z[articles], noise=self.QUERY_NOISE)
        return vectors, articles
