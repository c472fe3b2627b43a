"""Reads of the knowledge base: hybrid retrieval and the help centre's article lists.

Retrieval gathers candidates in one SQL round-trip from two indexes:
- the chunks nearest the question (pgvector cosine over the HNSW index),
- the chunks that match it in full-text search (GIN), each article in its own
  language's text-search configuration, ``simple`` where PostgreSQL has none,
  leaving out terms too common to tell chunks apart.
Two rankings are then fused with reciprocal rank fusion: the vector ranking (the
chunk's and its article title's similarity, blended) and the full-text ranking.
Searching titles through an index of their own added nothing on StackFAQ (P@1 0.878
with and without), so titles only re-score candidates.
"""

import re
import time
from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet

from knowledge.calibration import confidence_from_scores
from knowledge.embeddings import embedder_get
from knowledge.models import SEARCH_CONFIGS, Article, Category
from knowledge.textsearch import simple_terms
from knowledge.untrusted import instructions_strip

FALLBACK_LOCALE = "en"
RRF_K = 60
# Weight of the title's similarity in the vector ranking; the rest is the chunk's.
TITLE_WEIGHT = 0.5
# Full text catches exact tokens (order numbers, error codes, product names) that vectors
# blur, but on paraphrased questions it adds noise: on StackFAQ, weight 1.0 gives P@1 0.841
# and 0.3 gives 0.878 (bench/retrieval_eval.py). At 0.3 a full-text rank-1 chunk can still
# climb from about vector rank 20 to the top.
TEXT_WEIGHT = 0.3
# e5 scores a question about 0.037 higher (sd 0.018, measured on the demo articles that
# exist in both Czech and English) against an article in its own language than against
# the same article in English. Articles in the fallback locale get most of that back, so
# an off-topic article in the customer's language does not beat the right English one.
CROSS_LINGUAL_BONUS = 0.025
CANDIDATES = 40
# Full-text cost grows with the rows matched: a term in more than COMMON_TERM_SHARE of the
# chunks (and at least COMMON_TERM_CHUNKS of them) says little about any of them and is left
# out of the query (100k chunks: p95 613 ms with every term, see bench/search_bench.py). At
# most FTS_RANK_CAP matches are ranked: ts_rank decompresses each row's tsvector, ~0.1 ms a row.
COMMON_TERM_CHUNKS = 200
COMMON_TERM_SHARE = 0.01
FTS_RANK_CAP = 100
COMMON_TERMS_TTL = 300.0
MAX_QUERY_CHARS = 1000


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    article_id: int
    title: str
    slug: str
    locale: str
    category: str
    heading: str
    anchor: str
    text: str
    chunk_score: float
    title_score: float
    vector_score: float
    # The cross-lingual correction included in vector_score; ranking uses it, confidence does not.
    locale_bonus: float
    text_score: float
    vector_rank: int
    text_rank: int | None
    score: float

    @property
    def url(self) -> str:
        fragment = f"#{self.anchor}" if self.anchor else ""
        suffix = "" if self.locale == settings.LANGUAGE_CODE else f"?lang={self.locale}"
        return f"/help/{self.slug}/{suffix}{fragment}"


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[SearchHit]
    confidence: float
    query_vector: np.ndarray | None = None

    @property
    def answerable(self) -> bool:
        return self.confidence >= settings.KB_ANSWER_THRESHOLD

    @property
    def best(self) -> SearchHit | None:
        return self.hits[0] if self.hits else None


def search_locales(*, locale: str) -> list[str]:
    """The locales searched for a question in ``locale``: its own, then English."""
    return list(dict.fromkeys([locale, FALLBACK_LOCALE]))


def _text_match_sql(queries: dict[int, str], alias: str) -> str:
    return " OR ".join(
        f"({alias}.locale = %(locale_{i})s AND {alias}.search_vector @@ %(tsq_{i})s::tsquery)" for i in queries
    )


def _text_rank_sql(queries: dict[int, str], alias: str) -> str:
    ranks = " ".join(f"WHEN %(locale_{i})s THEN ts_rank({alias}.search_vector, %(tsq_{i})s::tsquery)" for i in queries)
    return f"CASE {alias}.locale {ranks} END"


_common_terms_cache: dict[str, tuple[float, frozenset[str]]] = {}


def search_common_terms() -> frozenset[str]:
    """Lexemes too common to search by, from PostgreSQL's own statistics of the chunk table.

    ANALYZE (run by autovacuum) keeps the most common elements of the tsvector column
    with their document frequencies; nothing else has to maintain this. Cached a few
    minutes per database.
    """
    key = connection.settings_dict["NAME"]
    cached = _common_terms_cache.get(key)
    if cached and time.monotonic() - cached[0] < COMMON_TERMS_TTL:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples
            FROM pg_stats s
            JOIN pg_class c ON c.relname = s.tablename AND c.relnamespace::regnamespace::text = s.schemaname
            WHERE s.schemaname = current_schema() AND s.tablename = 'knowledge_articlechunk'
              AND s.attname = 'search_vector'
            """
        )
        row = cursor.fetchone()
    terms: frozenset[str] = frozenset()
    if row and row[0]:
        elements, frequencies, rows = row
        # The frequency array ends with three summary numbers; zip stops at the elements.
        threshold = max(COMMON_TERM_CHUNKS, COMMON_TERM_SHARE * rows)
        terms = frozenset(e for e, f in zip(elements, frequencies, strict=False) if f * rows > threshold)
    _common_terms_cache[key] = (time.monotonic(), terms)
    return terms


def search_common_terms_forget() -> None:
    _common_terms_cache.clear()


def _candidate_sql(*, text_queries: dict[int, str], with_category: bool) -> str:
    filters = "a.status = 'published' AND a.locale = ANY(%(locales)s)"
    if with_category:
        filters += " AND cat.slug = %(category)s"
    text_rank = "0"
    fts = ""
    if text_queries:
        text_rank = (
            f"CASE WHEN {_text_match_sql(text_queries, 'm')} THEN {_text_rank_sql(text_queries, 'm')} ELSE 0 END"
        )
        fts = f"""
        UNION (
            SELECT matched.id FROM (
                SELECT c.id, m.search_vector, m.locale FROM knowledge_articlechunk c
                JOIN knowledge_article a ON a.id = c.article_id
                LEFT JOIN knowledge_category cat ON cat.id = a.category_id
                CROSS JOIN LATERAL (SELECT c.search_vector, a.locale) AS m
                WHERE {filters} AND ({_text_match_sql(text_queries, "m")})
                LIMIT %(rank_cap)s
            ) AS matched
            ORDER BY {_text_rank_sql(text_queries, "matched")} DESC
            LIMIT %(limit)s
        )"""  # noqa: S608 (loop indices only; values are parameters)
    # Only fragments built from loop indices are formatted in; every value is a parameter.
    return f"""
        WITH dense AS (
            SELECT c.id FROM knowledge_articlechunk c
            JOIN knowledge_article a ON a.id = c.article_id
            LEFT JOIN knowledge_category cat ON cat.id = a.category_id
            WHERE {filters}
            ORDER BY c.embedding <=> %(vector)s::vector
            LIMIT %(limit)s
        ),
        candidates AS (
            SELECT id FROM dense {fts}
        )
        SELECT c.id, a.id, a.title, a.slug, a.locale, coalesce(cat.slug, ''), c.heading, c.anchor, c.text,
               1 - (c.embedding <=> %(vector)s::vector),
               coalesce(1 - (a.title_embedding <=> %(vector)s::vector), 1 - (c.embedding <=> %(vector)s::vector)),
               {text_rank}
        FROM candidates
        JOIN knowledge_articlechunk c ON c.id = candidates.id
        JOIN knowledge_article a ON a.id = c.article_id
        CROSS JOIN LATERAL (SELECT c.search_vector, a.locale) AS m
        LEFT JOIN knowledge_category cat ON cat.id = a.category_id
    """  # noqa: S608


def _tsquery_quote(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def search_text_queries(*, query: str, locales: list[str]) -> dict[int, str]:
    """The full-text query for each searched locale, as tsquery text; locales with nothing left are absent.

    The question's words are OR-ed (plainto_tsquery would AND them, which a chatty question
    rarely satisfies), and words too common to tell chunks apart are left out. Built before
    the search so the planner sees the literal query and estimates from the column statistics.
    """
    common = search_common_terms()
    stemmed = {SEARCH_CONFIGS[locale] for locale in locales if locale in SEARCH_CONFIGS}
    lexemes: dict[str, list[str]] = {}
    if stemmed:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT config, tsvector_to_array(to_tsvector(config::regconfig, %s)) FROM unnest(%s::text[]) config",
                [query, sorted(stemmed)],
            )
            lexemes = dict(cursor.fetchall())
    queries: dict[int, str] = {}
    for i, locale in enumerate(locales):
        if locale in SEARCH_CONFIGS:
            terms = [_tsquery_quote(lexeme) for lexeme in lexemes[SEARCH_CONFIGS[locale]] if lexeme not in common]
        else:
            terms = [
                _tsquery_quote(word) + (":*" if prefix else "")
                for word, prefix in simple_terms(text=query, locale=locale, exclude=common)
            ]
        if terms:
            queries[i] = " | ".join(terms)
    return queries


def search_candidates(
    *,
    vector: np.ndarray,
    query: str,
    locales: list[str],
    category: str | None,
    text_queries: dict[int, str] | None = None,
) -> list[tuple]:
    if text_queries is None:
        text_queries = search_text_queries(query=query, locales=locales)
    params: dict = {
        "vector": "[" + ",".join(f"{x:.7f}" for x in vector.tolist()) + "]",
        "locales": locales,
        "category": category,
        "limit": CANDIDATES,
        "rank_cap": FTS_RANK_CAP,
    }
    for i, locale in enumerate(locales):
        params[f"locale_{i}"] = locale
        params[f"tsq_{i}"] = text_queries.get(i, "")
    with transaction.atomic(), connection.cursor() as cursor:
        # With a locale or category filter, a plain HNSW scan can run out of matching
        # rows; the iterative scan keeps walking the graph until LIMIT is met.
        # One round trip for both settings (set_config with is_local is SET LOCAL).
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', '100', true)"
        )
        cursor.execute(_candidate_sql(text_queries=text_queries, with_category=bool(category)), params)
        return cursor.fetchall()


def search_fuse(
    rows: list[tuple],
    *,
    locale: str = FALLBACK_LOCALE,
    title_weight: float = TITLE_WEIGHT,
    text_weight: float = TEXT_WEIGHT,
) -> list[SearchHit]:
    scored = []
    for row in rows:
        chunk_score, title_score, text_score = float(row[9]), float(row[10]), float(row[11])
        locale_bonus = CROSS_LINGUAL_BONUS if row[4] != locale else 0.0
        vector_score = (1 - title_weight) * chunk_score + title_weight * title_score + locale_bonus
        scored.append((row, chunk_score, title_score, vector_score, text_score, locale_bonus))
    by_vector = sorted(scored, key=lambda s: -s[3])
    vector_rank = {s[0][0]: rank for rank, s in enumerate(by_vector, start=1)}
    by_text = sorted((s for s in scored if s[4] > 0), key=lambda s: -s[4])
    text_rank = {s[0][0]: rank for rank, s in enumerate(by_text, start=1)}

    hits = []
    for row, chunk_score, title_score, vector_score, text_score, locale_bonus in scored:
        chunk_id = row[0]
        fused = 1 / (RRF_K + vector_rank[chunk_id])
        if chunk_id in text_rank:
            fused += text_weight / (RRF_K + text_rank[chunk_id])
        hits.append(
            SearchHit(
                chunk_id=chunk_id,
                article_id=row[1],
                title=row[2],
                slug=row[3],
                locale=row[4],
                category=row[5],
                heading=row[6],
                anchor=row[7],
                text=row[8],
                chunk_score=chunk_score,
                title_score=title_score,
                vector_score=vector_score,
                locale_bonus=locale_bonus,
                text_score=text_score,
                vector_rank=vector_rank[chunk_id],
                text_rank=text_rank.get(chunk_id),
                score=fused,
            )
        )
    hits.sort(key=lambda h: (-h.score, -h.vector_score))
    return hits


def _limit_per_article(hits: list[SearchHit], *, limit: int, per_article: int) -> list[SearchHit]:
    kept: list[SearchHit] = []
    seen: dict[int, int] = {}
    for hit in hits:
        if seen.get(hit.article_id, 0) < per_article:
            kept.append(hit)
            seen[hit.article_id] = seen.get(hit.article_id, 0) + 1
        if len(kept) == limit:
            break
    return kept


def search_confidence_features(hits: list[SearchHit]) -> tuple[float, float] | None:
    """The two numbers the confidence is calibrated on: the top score and its margin.

    The calibration was fitted on uncorrected scores, so the cross-lingual bonus is
    taken out again: an answer from another language is judged conservatively.
    """
    if not hits:
        return None
    best = hits[0]
    top = best.vector_score - best.locale_bonus
    # Compare with other articles in the same language: a translation of the top
    # article is not a competing answer.
    others = [
        h.vector_score - h.locale_bonus for h in hits if h.article_id != best.article_id and h.locale == best.locale
    ]
    runner_up = max(others) if others else top - 0.05
    return top, top - runner_up


def search_confidence(hits: list[SearchHit]) -> float:
    """Calibrated probability that the top hit answers the question."""
    features = search_confidence_features(hits)
    if features is None:
        return 0.0
    top, margin = features
    return confidence_from_scores(top=top, margin=margin)


@dataclass(frozen=True)
class SearchQuery:
    """A question made ready to search, everything but its vector."""

    text: str
    locale: str
    locales: list[str]
    text_queries: dict[int, str]


def search_query_build(*, query: str, locale: str = FALLBACK_LOCALE) -> SearchQuery:
    """Normalise the question and build its full-text queries.

    Separate from ``kb_search`` so a caller can do this while the question's vector is
    still being computed.
    """
    text = re.sub(r"\s+", " ", query).strip()[:MAX_QUERY_CHARS]
    locales = search_locales(locale=locale)
    text_queries = search_text_queries(query=text, locales=locales) if text else {}
    return SearchQuery(text=text, locale=locale, locales=locales, text_queries=text_queries)


def kb_search(
    *,
    query: str | None = None,
    locale: str = FALLBACK_LOCALE,
    category: str | None = None,
    limit: int = 5,
    per_article: int = 2,
    query_vector: np.ndarray | None = None,
    prepared: SearchQuery | None = None,
) -> SearchResult:
    """Hybrid search over published articles in ``locale`` and English.

    Pass either ``query`` or a ``prepared`` one from ``search_query_build`` (its locale wins).
    ``confidence`` is comparable with ``settings.KB_ANSWER_THRESHOLD``.
    """
    if prepared is None:
        prepared = search_query_build(query=query or "", locale=locale)
    if not prepared.text:
        return SearchResult(query=prepared.text, hits=[], confidence=0.0)
    vector = query_vector if query_vector is not None else embedder_get().embed_query(prepared.text)
    rows = search_candidates(
        vector=vector,
        query=prepared.text,
        locales=prepared.locales,
        category=category,
        text_queries=prepared.text_queries,
    )
    hits = search_fuse(rows, locale=prepared.locale)
    confidence = search_confidence(hits)
    # Only the hits handed out are cleaned of text addressed to a model (knowledge/untrusted.py).
    kept = [
        replace(hit, title=instructions_strip(hit.title), text=instructions_strip(hit.text))
        for hit in _limit_per_article(hits, limit=limit, per_article=per_article)
    ]
    return SearchResult(query=prepared.text, hits=kept, confidence=confidence, query_vector=vector)


def article_get_published(*, slug: str, locale: str) -> Article | None:
    """The published article with this slug, in ``locale`` if it exists, else English, else any."""
    candidates = {
        a.locale: a
        for a in Article.objects.filter(slug=slug, status=Article.Status.PUBLISHED).select_related("category")
    }
    for preferred in (locale, FALLBACK_LOCALE):
        if preferred in candidates:
            return candidates[preferred]
    return next(iter(candidates.values()), None)


def categories_with_articles(*, locale: str) -> QuerySet[Category]:
    """Categories that have published articles in ``locale``, each with those articles prefetched."""
    published = Article.objects.filter(status=Article.Status.PUBLISHED, locale=locale).order_by("title")
    return (
        Category.objects.filter(articles__in=published)
        .distinct()
        .prefetch_related(Prefetch("articles", queryset=published, to_attr="published_articles"))
    )


def locales_with_articles() -> list[str]:
    # order_by() first: the model's default ordering would make DISTINCT cover titles too.
    published = Article.objects.filter(status=Article.Status.PUBLISHED)
    return list(published.order_by("locale").values_list("locale", flat=True).distinct())
