import pytest

from knowledge.services import article_index
from tests.factories import ArticleFactory, CategoryFactory

ARTICLES = [
    (
        "en",
        "billing",
        "refund-timelines",
        "When will I get my refund?",
        "Refunds go back to the original payment method within 5 business days after the return reaches our "
        "warehouse. Banks can take another 3-10 business days to show the money.",
    ),
    (
        "en",
        "shipping",
        "track-your-order",
        "How to track your parcel",
        "Every shipped order gets a tracking number from the carrier. Open Account > Orders and click Track to "
        "follow the parcel on the carrier's site.",
    ),
    (
        "en",
        "technical",
        "error-e42",
        "Checkout error E42",
        "Error code E42 at checkout means the card issuer declined 3-D Secure. Approve the payment in your "
        "banking app, or try another card.",
    ),
    (
        "en",
        "account",
        "reset-password",
        "Resetting a forgotten password",
        "Click Forgot password on the sign-in page. We email a reset link that is valid for 60 minutes.",
    ),
    (
        "en",
        "technical",
        "smart-plug-pairing",
        "Pairing a smart plug",
        "Smart plugs connect to 2.4 GHz Wi-Fi only. Hold the button for 10 seconds to reset the plug, then add it "
        "in the app.",
    ),
    (
        "cs",
        "returns",
        "jak-podat-reklamaci",
        "Jak podat reklamaci",
        "Reklamaci vadného zboží podáte v účtu v sekci Objednávky, tlačítko Nahlásit problém. Přiložte fotky vady. "
        "O reklamaci rozhodneme do 30 dnů.",
    ),
]


@pytest.fixture
def kb(db):
    """A small knowledge base indexed with the real offline embedding model."""
    articles = {}
    for locale, category, slug, title, body in ARTICLES:
        article = ArticleFactory(
            locale=locale, slug=slug, title=title, body=body, category=CategoryFactory(slug=category, name=category)
        )
        article_index(article=article)
        articles[slug] = article
    return articles
