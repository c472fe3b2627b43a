"""The public help centre: article lists per locale, search and article pages."""

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from knowledge.api import LiveScopedRateThrottle
from knowledge.embeddings import EmbeddingError
from knowledge.help_selectors import article_list_related, article_list_uncategorized
from knowledge.rendering import article_excerpt, article_render
from knowledge.selectors import (
    FALLBACK_LOCALE,
    SearchHit,
    article_get_published,
    categories_with_articles,
    kb_search,
    locales_with_articles,
)

logger = logging.getLogger(__name__)

QUERY_MAX_CHARS = 200
SEARCH_LIMIT = 8
EXCERPT_CHARS = 250


@dataclass(frozen=True)
class ResultRow:
    hit: SearchHit
    section: str
    category: str
    excerpt: str


def _locale_get(request: HttpRequest) -> str:
    """``?lang=`` if it names a configured language, else the negotiated language, else English."""
    supported = dict(settings.LANGUAGES)
    for candidate in (request.GET.get("lang", ""), getattr(request, "LANGUAGE_CODE", "")):
        candidate = candidate.strip().lower()
        if candidate in supported:
            return candidate
    return FALLBACK_LOCALE


def _locale_choices() -> list[tuple[str, str]]:
    names = dict(settings.LANGUAGES)
    return [(code, names.get(code, code)) for code in locales_with_articles()]


def _result_row(hit: SearchHit, category_names: dict[str, str]) -> ResultRow:
    # A chunk before the first heading carries the article title as its heading; don't repeat it.
    section = "" if hit.heading == hit.title else hit.heading.replace(" > ", " › ")
    return ResultRow(
        hit=hit,
        section=section,
        category=category_names.get(hit.category, ""),
        excerpt=article_excerpt(body=hit.text, length=EXCERPT_CHARS),
    )


@require_safe
def help_index(request: HttpRequest) -> HttpResponse:
    locale = _locale_get(request)
    context = {
        "locale": locale,
        "locale_name": dict(settings.LANGUAGES)[locale],
        "locale_choices": _locale_choices(),
        "categories": categories_with_articles(locale=locale),
        "uncategorized": article_list_uncategorized(locale=locale),
    }
    return render(request, "knowledge/help_index.html", context)


class _SearchBudget:
    """The view the throttle reads its scope from: the same budget as ``/api/kb/search``."""

    throttle_scope = "kb_search"


class _ClientSearchThrottle(LiveScopedRateThrottle):
    """Keyed by the client's address, signed in or not, as the API (which authenticates nobody) is."""

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _search_wait(request: HttpRequest) -> int | None:
    """Seconds this client must wait before searching again, or None. The page and the API
    share one per-client budget, so neither is a way round the other's limit. A cache that is
    down lets the search through, as it does every limit here."""
    throttle = _ClientSearchThrottle()
    try:
        if throttle.allow_request(request, _SearchBudget()):
            return None
    except Exception:
        logger.warning("Could not count help-centre searches; letting this one through", exc_info=True)
        return None
    return max(1, int(throttle.wait() or 1))


@require_safe
def help_search(request: HttpRequest) -> HttpResponse:
    locale = _locale_get(request)
    query = re.sub(r"\s+", " ", request.GET.get("q", "")).strip()[:QUERY_MAX_CHARS]
    if query and (wait := _search_wait(request)) is not None:
        context = {"locale": locale, "locale_choices": _locale_choices(), "query": query, "throttled_wait": wait}
        response = render(request, "knowledge/help_search.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    categories = list(categories_with_articles(locale=locale))
    category_names = {c.slug: c.name for c in categories}
    # An unknown category would silently filter everything out; search all of them instead.
    category = request.GET.get("category", "").strip()
    category = category if category in category_names else ""

    result, unavailable = None, False
    if query:
        try:
            result = kb_search(query=query, locale=locale, category=category or None, limit=SEARCH_LIMIT)
        except EmbeddingError:
            # The optional embeddings server is down: say so instead of failing the page.
            unavailable = True
    context = {
        "locale": locale,
        "locale_choices": _locale_choices(),
        "query": query,
        "category": category,
        "categories": categories,
        "result": result,
        "unavailable": unavailable,
        "rows": [_result_row(hit, category_names) for hit in result.hits] if result else [],
    }
    return render(request, "knowledge/help_search.html", context)


@require_safe
def help_article(request: HttpRequest, slug: str) -> HttpResponse:
    locale = _locale_get(request)
    article = article_get_published(slug=slug, locale=locale)
    if article is None:
        raise Http404("No published article with this address.")
    names = dict(settings.LANGUAGES)
    context = {
        "locale": locale,
        "article": article,
        "rendered": article_render(body=article.body),
        "related": article_list_related(article=article),
        "requested_locale_name": names[locale],
        "article_locale_name": names.get(article.locale, article.locale),
    }
    return render(request, "knowledge/help_article.html", context)
