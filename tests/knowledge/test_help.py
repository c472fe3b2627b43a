import re

import pytest
from django.urls import reverse
from django.utils.timezone import localtime

from knowledge.chunking import article_chunks
from knowledge.models import Article
from knowledge.rendering import article_render, article_render_html
from knowledge.services import article_index
from tests.factories import ArticleFactory, CategoryFactory, UserFactory
from tests.helpdesk.test_limits import cache_down

pytestmark = pytest.mark.django_db

XSS_BODY = """Safe intro paragraph.

<script>alert(1)</script>

<img src=x onerror=alert(1)>

[x](javascript:alert(1))

<iframe src="https://evil.example/"></iframe>

<a href="https://example.com/" onclick="alert(1)">outside link</a>

## Still here
Closing words."""

ANCHOR_BODY = """Úvod k vrácení.

## Vrácení zboží
Do 30 dnů.

## Postup
Vyplňte formulář.

### Časté dotazy
Odpovědi.

## Postup
Druhý postup se stejným nadpisem.
"""


def _ids(html: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', html)


def _article_url(slug: str, lang: str | None = None) -> str:
    url = reverse("help:article", args=[slug])
    return f"{url}?lang={lang}" if lang else url


# Index


def test_index_lists_published_articles_of_the_locale_by_category_position(client):
    later = CategoryFactory(slug="billing", name="Billing", position=2)
    first = CategoryFactory(slug="returns", name="Returns", position=1)
    ArticleFactory(title="Refund timelines", category=later)
    ArticleFactory(title="How to return an item", category=first)
    ArticleFactory(title="Secret draft plan", category=first, status=Article.Status.DRAFT, published_at=None)
    ArticleFactory(title="Jak vrátit zboží", locale="cs", category=first)

    body = client.get(reverse("help:index")).content.decode()

    assert "How to return an item" in body
    assert "Refund timelines" in body
    assert "Secret draft plan" not in body
    assert "Jak vrátit zboží" not in body
    assert body.index("Returns") < body.index("Billing")


def test_index_switches_locale_with_lang_parameter(client):
    category = CategoryFactory()
    ArticleFactory(title="How to return an item", slug="return-item", category=category)
    ArticleFactory(title="Jak vrátit zboží", slug="vraceni-zbozi", locale="cs", category=category)

    body = client.get(reverse("help:index") + "?lang=cs").content.decode()

    assert "Jak vrátit zboží" in body
    assert "How to return an item" not in body
    assert f'href="{_article_url("vraceni-zbozi", "cs")}"' in body
    # The switcher offers both locales that have articles and marks the current one.
    assert 'href="?lang=en"' in body
    assert re.search(r'href="\?lang=cs"[^>]*aria-current="true"', body)


def test_index_ignores_unknown_lang_and_falls_back_to_the_browser_language(client):
    category = CategoryFactory()
    ArticleFactory(title="How to return an item", category=category)
    ArticleFactory(title="Jak vrátit zboží", locale="cs", category=category)

    response = client.get(reverse("help:index") + "?lang=xx", HTTP_ACCEPT_LANGUAGE="cs")

    assert response.context["locale"] == "cs"
    assert "Jak vrátit zboží" in response.content.decode()
    assert client.get(reverse("help:index") + "?lang=xx").context["locale"] == "en"


def test_index_lists_uncategorized_articles(client):
    ArticleFactory(title="Loose article", category=None)

    assert "Loose article" in client.get(reverse("help:index")).content.decode()


def test_index_says_when_a_locale_has_no_articles(client):
    ArticleFactory(title="How to return an item")

    body = client.get(reverse("help:index") + "?lang=de").content.decode()

    assert "no published articles in Deutsch" in body
    assert "How to return an item" not in body


# Article page


def test_article_page_shows_title_category_toc_body_and_related(client):
    category = CategoryFactory(slug="returns", name="Returns")
    article = ArticleFactory(
        title="How to return an item",
        slug="return-item",
        category=category,
        body="Intro.\n\n## Before you start\nPack it.\n\n## Send it back\nUse the label.",
    )
    ArticleFactory(title="Refund timelines", slug="refunds", category=category)
    ArticleFactory(title="Other category article", category=CategoryFactory())
    ArticleFactory(title="Draft sibling", category=category, status=Article.Status.DRAFT, published_at=None)
    ArticleFactory(title="Czech sibling", locale="cs", category=category)

    response = client.get(_article_url(article.slug))

    assert response.status_code == 200
    body = response.content.decode()
    assert '<article class="help-article" lang="en"' in body
    assert "<h1" in body and "How to return an item</h1>" in body
    assert "Returns" in body
    assert f'datetime="{localtime(article.updated_at).isoformat()}"' in body
    assert '<a href="#before-you-start">Before you start</a>' in body
    assert '<a href="#send-it-back">Send it back</a>' in body
    assert '<h2 id="send-it-back">Send it back</h2>' in body
    assert f'href="{_article_url("refunds", "en")}"' in body
    assert "Other category article" not in body
    assert "Draft sibling" not in body
    assert "Czech sibling" not in body
    assert "isn’t available" not in body


def test_draft_article_is_404(client):
    ArticleFactory(slug="draft-one", status=Article.Status.DRAFT, published_at=None)

    assert client.get(_article_url("draft-one")).status_code == 404


def test_unknown_slug_is_404(client):
    ArticleFactory(slug="exists")

    assert client.get(_article_url("does-not-exist")).status_code == 404
    assert client.get(_article_url("exists")).status_code == 200


def test_english_fallback_is_announced(client):
    ArticleFactory(title="Track your order", slug="track-order", locale="en")

    response = client.get(_article_url("track-order", "cs"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Track your order" in body
    assert "isn’t available in Čeština, so it is shown in English" in body
    assert '<article class="help-article" lang="en"' in body


def test_same_slug_in_the_requested_locale_is_preferred(client):
    ArticleFactory(title="Track your order", slug="track-order", locale="en")
    ArticleFactory(title="Sledování objednávky", slug="track-order", locale="cs")

    body = client.get(_article_url("track-order", "cs")).content.decode()

    assert "Sledování objednávky" in body
    assert '<article class="help-article" lang="cs"' in body
    assert "isn’t available" not in body


# Rendering and XSS


def test_article_page_neutralises_scripts_handlers_javascript_urls_and_iframes(client):
    ArticleFactory(slug="xss", body=XSS_BODY)

    response = client.get(_article_url("xss"))

    html = response.content.decode()
    article_html = html[html.index('<div class="help-body">') : html.index("</article>")]
    assert "Safe intro paragraph." in article_html
    assert "Closing words." in article_html
    assert "<script" not in html
    assert "alert(1)" not in article_html
    assert "onerror" not in article_html
    assert "onclick" not in article_html
    assert "javascript:" not in article_html
    assert "<iframe" not in html
    assert "<img" not in article_html
    # The harmless link survives, hardened.
    assert '<a href="https://example.com/" rel="noopener noreferrer">outside link</a>' in article_html


def test_render_keeps_the_allowed_markup_and_drops_the_rest():
    html = article_render_html(
        body=(
            '# Top\n\n**bold** *em* `code` [site](https://example.com "Site") [mail](mailto:a@example.com) '
            "[rel](/help/x/)\n\n> quote\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n```\n<b>raw</b>\n```\n\n"
            '<div style="color:red" class="x"><span>kept text</span></div>\n\n---'
        )
    )

    assert '<h2 id="top">Top</h2>' in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com" title="Site" rel="noopener noreferrer">site</a>' in html
    assert 'href="mailto:a@example.com"' in html
    assert 'href="/help/x/"' in html
    assert "<blockquote>" in html
    assert '<th align="left">a</th>' in html and '<td align="right">2</td>' in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html
    assert "kept text" in html
    assert "<div" not in html and "<span" not in html and "style=" not in html and "class=" not in html
    assert "<hr>" in html


def test_bare_help_paths_in_a_body_become_links():
    html = article_render_html(body="See /help/refund-timelines/. Not https://example.com/help/x/ or `/help/y/`.")

    assert '<a href="/help/refund-timelines/" rel="noopener noreferrer">/help/refund-timelines/</a>.' in html
    assert 'href="https://example.com/help/x/"' not in html
    assert 'href="/help/y/"' not in html


def test_heading_ids_match_chunk_anchors_including_czech_and_repeated_headings(client):
    anchors = [c.anchor for c in article_chunks(title="Vrácení", body=ANCHOR_BODY, min_tokens=0) if c.anchor]
    assert anchors == ["vraceni-zbozi", "postup", "caste-dotazy", "postup_1"]

    ArticleFactory(slug="vraceni", locale="cs", body=ANCHOR_BODY)
    page_ids = _ids(client.get(_article_url("vraceni", "cs")).content.decode())

    for anchor in anchors:
        assert anchor in page_ids
    # The table of contents lists the `##` sections and links to the same anchors.
    rendered = article_render(body=ANCHOR_BODY)
    assert [s.anchor for s in rendered.sections] == ["vraceni-zbozi", "postup", "postup_1"]
    assert [s.title for s in rendered.sections] == ["Vrácení zboží", "Postup", "Postup"]


def test_indexed_chunk_anchors_resolve_on_the_help_page(client):
    # Sections long enough that the indexer keeps each one as its own chunk.
    long_text = "Zboží můžete vrátit do třiceti dnů od doručení bez udání důvodu. " * 15
    body = "\n\n".join(f"## {heading}\n{long_text}" for heading in ["Vrácení zboží", "Postup", "Postup"])
    article = ArticleFactory(slug="vraceni", locale="cs", body=body)
    article_index(article=article)

    page_ids = _ids(client.get(_article_url("vraceni", "cs")).content.decode())

    stored = set(article.chunks.values_list("anchor", flat=True))
    assert stored == {"vraceni-zbozi", "postup", "postup_1"}
    assert stored <= set(page_ids)


# Search


@pytest.fixture
def indexed_articles():
    returns = CategoryFactory(slug="returns", name="Returns")
    account = CategoryFactory(slug="account", name="Account")
    articles = [
        ArticleFactory(
            title="Reset your password",
            slug="reset-password",
            category=account,
            body=(
                "Forgot your password? You can set a new one yourself.\n\n## Request a reset link\n"
                "On the sign-in page choose **Forgot password** and enter your email. We send a reset link "
                "that is valid for 60 minutes.\n\n## Link expired\nRequest a new link; only the newest one works."
            ),
        ),
        ArticleFactory(
            title="How to return an item",
            slug="return-item",
            category=returns,
            body=(
                "You can send most items back within 30 days of delivery.\n\n## Print the return label\n"
                "Open **Account → Orders**, choose the order and select **Return items**. The prepaid label "
                "arrives by email.\n\n## Refund\nWe refund your original payment method within 5 business days."
            ),
        ),
        ArticleFactory(
            title="Delivery options and prices",
            slug="delivery-options",
            category=CategoryFactory(slug="shipping", name="Shipping"),
            body=(
                "We ship with couriers and to pick-up points.\n\n## Prices\nStandard delivery costs 99 CZK and is "
                "free over 1500 CZK.\n\n## Delivery times\nMost parcels arrive in 1–3 business days."
            ),
        ),
    ]
    for article in articles:
        article_index(article=article)
    return articles


def test_search_finds_the_article_for_an_exact_keyword(client, indexed_articles):
    response = client.get(reverse("help:search"), {"q": "reset link"})

    assert response.status_code == 200
    rows = response.context["rows"]
    assert rows[0].hit.slug == "reset-password"
    body = response.content.decode()
    assert f'href="{rows[0].hit.url}"' in body
    assert "Reset your password" in body


def test_search_finds_the_article_for_a_paraphrase(client, indexed_articles):
    # Rewords "How to return an item" without "return" or "item".
    response = client.get(reverse("help:search"), {"q": "How do I send a product back to you?"})

    best = response.context["result"].hits[0]
    assert best.slug == "return-item"
    # The meaning, not only shared words, ranks it first.
    assert best.vector_rank == 1


def test_search_results_show_section_and_plain_text_excerpt(client, indexed_articles):
    response = client.get(reverse("help:search"), {"q": "prepaid return label by email"})

    row = next(r for r in response.context["rows"] if r.hit.slug == "return-item")
    assert row.category == "Returns"
    assert "**" not in row.excerpt
    assert "Account → Orders" in row.excerpt
    assert len(row.excerpt) <= 251
    assert row.excerpt in response.content.decode()


def test_search_category_filter_limits_results(client, indexed_articles):
    response = client.get(reverse("help:search"), {"q": "reset link", "category": "shipping"})

    assert {r.hit.category for r in response.context["rows"]} == {"shipping"}


def test_unknown_category_is_ignored_rather_than_hiding_every_result(client, indexed_articles):
    response = client.get(reverse("help:search"), {"q": "reset link", "category": "no-such-category"})

    assert response.context["category"] == ""
    assert response.context["rows"][0].hit.slug == "reset-password"


def test_empty_query_shows_the_form_with_a_friendly_message(client, indexed_articles):
    response = client.get(reverse("help:search"), {"q": "   "})

    assert response.status_code == 200
    assert response.context["result"] is None
    body = response.content.decode()
    assert 'name="q"' in body
    assert "Type a question or a few keywords" in body
    assert "No articles match" not in body


def test_long_query_is_cut_to_200_characters(client):
    response = client.get(reverse("help:search"), {"q": "parcel " * 60})

    assert response.status_code == 200
    assert len(response.context["query"]) == 200
    assert response.context["result"].query == response.context["query"].strip()


def test_search_without_a_match_says_so(client):
    ArticleFactory(title="Delivery options", body="We ship with couriers.")

    response = client.get(reverse("help:search"), {"q": "quantum chromodynamics lecture notes"})

    assert response.context["result"].answerable is False
    assert "No articles match" in response.content.decode()


def test_search_query_is_escaped_in_the_results_page(client):
    response = client.get(reverse("help:search"), {"q": "<script>alert(1)</script>"})

    body = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body


def test_search_keeps_the_locale_in_a_hidden_field(client):
    ArticleFactory(locale="cs")

    body = client.get(reverse("help:search"), {"q": "", "lang": "cs"}).content.decode()

    assert '<input type="hidden" name="lang" value="cs">' in body


def test_locale_switcher_lists_each_locale_once(client):
    ArticleFactory.create_batch(3, locale="en")
    ArticleFactory.create_batch(2, locale="cs")

    response = client.get(reverse("help:index"))

    assert response.context["locale_choices"] == [("cs", "Čeština"), ("en", "English")]
    assert response.content.decode().count('href="?lang=cs"') == 1


def test_the_search_page_shares_the_apis_per_client_limit(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"kb_search": "3/min"}}
    page = reverse("help:search")
    statuses = [client.get(page, {"q": f"refund {n}"}).status_code for n in range(2)]
    # The API counts against the same budget: alternating is no way round the limit.
    statuses.append(client.get(reverse("api-kb-search"), {"q": "refund"}).status_code)
    throttled = client.get(page, {"q": "refund again"})
    assert statuses == [200, 200, 200]
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "You have searched a lot in a short time" in throttled.content.decode()
    # Another client has its own budget.
    other = client.get(page, {"q": "refund"}, REMOTE_ADDR="10.9.8.7")
    assert other.status_code == 200
    # The empty search form is not a search and is never refused.
    assert client.get(page).status_code == 200


def test_a_signed_in_visitor_shares_the_search_budget_of_their_address(client, settings):
    # The API authenticates nobody and counts by address; the page must not give a login a second budget.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"kb_search": "2/min"}}
    client.force_login(UserFactory())
    page = reverse("help:search")
    assert client.get(page, {"q": "refund"}).status_code == 200
    assert client.get(reverse("api-kb-search"), {"q": "refund"}).status_code == 200
    assert client.get(page, {"q": "refund"}).status_code == 429


def test_the_search_page_works_while_the_cache_is_down(client, settings):
    cache_down(settings)
    # A limit that cannot be counted lets the search through, as every limit here does.
    assert client.get(reverse("help:search"), {"q": "refund"}).status_code == 200
