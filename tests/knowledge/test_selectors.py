import pytest

from knowledge.selectors import kb_search, locales_with_articles, search_locales
from knowledge.services import article_index, article_status_set
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db


def top_slug(query: str, **kwargs) -> str | None:
    result = kb_search(query=query, **kwargs)
    return result.best.slug if result.best else None


def test_exact_keyword_finds_the_article(kb):
    result = kb_search(query="E42")
    assert result.best.slug == "error-e42"
    # The full-text side carried it: the chunk matched the keyword.
    assert result.best.text_rank == 1


def test_paraphrase_finds_the_article(kb):
    assert top_slug("how long until my money comes back") == "refund-timelines"
    assert top_slug("I can't remember my login secret") == "reset-password"


def test_czech_question_finds_the_english_article_when_no_czech_one_exists(kb):
    result = kb_search(query="Jak dlouho trvá vrácení peněz?", locale="cs")
    assert result.best.slug == "refund-timelines"
    assert result.best.locale == "en"


def test_czech_question_prefers_the_czech_article_that_exists(kb):
    assert top_slug("Chci reklamovat rozbitý výrobek", locale="cs") == "jak-podat-reklamaci"


def test_english_search_does_not_return_other_locales(kb):
    result = kb_search(query="reklamace vadného zboží", locale="en", limit=10)
    assert {hit.locale for hit in result.hits} == {"en"}


def test_drafts_are_never_retrieved(kb):
    article_status_set(article_ids=[kb["error-e42"].pk], status="draft")
    result = kb_search(query="E42 checkout error", limit=10)
    assert "error-e42" not in {hit.slug for hit in result.hits}
    article_status_set(article_ids=[kb["error-e42"].pk], status="published")
    assert top_slug("E42 checkout error") == "error-e42"


def test_unindexed_draft_article_is_not_retrieved_either(kb):
    draft = ArticleFactory(status="draft", published_at=None, title="Secret launch plan", body="Launch on Friday.")
    article_index(article=draft)
    assert "secret" not in (top_slug("secret launch plan") or "")


def test_category_filter(kb):
    result = kb_search(query="refund", category="technical", limit=10)
    assert result.hits
    assert {hit.category for hit in result.hits} == {"technical"}


def test_hits_carry_citations_and_scores(kb):
    hit = kb_search(query="track my parcel").best
    assert hit.slug == "track-your-order"
    assert hit.url == "/help/track-your-order/"
    assert hit.vector_rank >= 1 and hit.score > 0
    assert 0 < hit.chunk_score <= 1 and 0 < hit.title_score <= 1
    cs_hit = kb_search(query="reklamace", locale="cs").best
    assert cs_hit.url == "/help/jak-podat-reklamaci/?lang=cs"


def test_confidence_separates_answerable_from_unrelated_questions(kb):
    answerable = kb_search(query="When will I get my refund?")
    unrelated = kb_search(query="What is the capital of France?")
    assert answerable.confidence > 0.8 and answerable.answerable
    assert unrelated.confidence < 0.2 and not unrelated.answerable


def test_limit_and_per_article_cap(kb):
    result = kb_search(query="order", limit=3, per_article=1)
    assert len(result.hits) <= 3
    assert len({hit.article_id for hit in result.hits}) == len(result.hits)


def test_empty_query_returns_nothing_without_touching_the_model(kb):
    result = kb_search(query="   ")
    assert result.hits == [] and result.confidence == 0.0


def test_search_locales_fall_back_to_english():
    assert search_locales(locale="cs") == ["cs", "en"]
    assert search_locales(locale="en") == ["en"]


def test_locales_with_articles_lists_each_once(kb):
    assert locales_with_articles() == ["cs", "en"]


def test_terms_too_common_to_tell_chunks_apart_are_left_out_of_full_text(kb, monkeypatch):
    from django.db import connection

    from knowledge import selectors

    for n in range(12):
        article = ArticleFactory(title=f"Order topic {n}", body=f"Your order number {n} and its order status.")
        article_index(article=article)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_articlechunk")
    monkeypatch.setattr(selectors, "COMMON_TERM_CHUNKS", 5)
    selectors.search_common_terms_forget()
    try:
        assert "order" in selectors.search_common_terms()
        # "order" no longer matches a dozen chunks in full text; the rare "E42" still does.
        result = kb_search(query="order E42", limit=20)
        text_matched = {hit.slug for hit in result.hits if hit.text_rank is not None}
        assert text_matched == {"error-e42"}
    finally:
        selectors.search_common_terms_forget()


def test_without_statistics_no_term_is_treated_as_common(kb):
    from knowledge import selectors

    selectors.search_common_terms_forget()
    assert "order" not in selectors.search_common_terms()


def test_text_queries_are_quoted_or_queries_per_locale(kb):
    from knowledge.selectors import search_text_queries

    queries = search_text_queries(query="Where's my parcel? O'Brien's order", locales=["cs", "en"])
    assert queries[0].startswith("'where'")
    assert "'parcel'" in queries[1] and " | " in queries[1]
    assert search_text_queries(query="the of and", locales=["en"]) == {}


def test_confidence_features_ignore_translations_and_the_cross_lingual_bonus(kb):
    from knowledge.selectors import search_confidence, search_confidence_features

    result = kb_search(query="Jak dlouho trvá vrácení peněz?", locale="cs", limit=10)
    top, margin = search_confidence_features(result.hits)
    best = result.hits[0]
    assert best.locale == "en" and best.locale_bonus > 0
    assert top == pytest.approx(best.vector_score - best.locale_bonus)
    assert margin > 0
    assert search_confidence(result.hits) == pytest.approx(result.confidence)
    assert search_confidence_features([]) is None and search_confidence([]) == 0.0


def test_a_prepared_query_searches_like_a_plain_one(kb):
    from knowledge.selectors import search_query_build

    prepared = search_query_build(query="  how long until   my money comes back ", locale="cs")
    assert prepared.text == "how long until my money comes back"
    assert prepared.locales == ["cs", "en"]
    plain = kb_search(query="how long until my money comes back", locale="cs")
    ready = kb_search(prepared=prepared)
    assert [(h.slug, h.vector_score) for h in ready.hits] == [(h.slug, h.vector_score) for h in plain.hits]
    assert ready.best.slug == "refund-timelines"
    assert kb_search(prepared=search_query_build(query="   ")).hits == []
