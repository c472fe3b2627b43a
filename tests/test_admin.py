import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.authtoken.models import Token

from copilot.models import Intent
from helpdesk.models import AuditEntry
from integrations.models import IntegrationLog, WebhookDelivery
from knowledge.models import Article
from tests import factories

pytestmark = pytest.mark.django_db

FACTORIES = {
    "auth.user": factories.UserFactory,
    "auth.group": lambda: Group.objects.create(name="Billing"),
    "crm.customer": factories.CustomerFactory,
    "crm.account": factories.AccountFactory,
    "crm.product": factories.ProductFactory,
    "crm.order": lambda: factories.OrderItemFactory().order,
    "helpdesk.conversation": lambda: factories.MessageFactory().conversation,
    "helpdesk.message": factories.MessageFactory,
    "helpdesk.ticket": factories.TicketFactory,
    "helpdesk.agentprofile": factories.AgentProfileFactory,
    "knowledge.category": factories.CategoryFactory,
    "knowledge.article": lambda: factories.ArticleChunkFactory().article,
    "knowledge.articlechunk": factories.ArticleChunkFactory,
    "knowledge.knowledgegap": factories.KnowledgeGapFactory,
    "copilot.intent": lambda: Intent.objects.get(name="billing"),
    # django-axes: admins see failed sign-ins and lift a lockout by deleting its attempt.
    "axes.accessattempt": lambda: AccessAttempt.objects.create(
        username="jana", ip_address="192.0.2.1", user_agent="test", failures_since_start=5
    ),
    "axes.accesslog": lambda: AccessLog.objects.create(username="jana", ip_address="192.0.2.1", user_agent="test"),
    "axes.accessfailurelog": lambda: AccessFailureLog.objects.create(
        username="jana", ip_address="192.0.2.1", user_agent="test", locked_out=True
    ),
    "helpdesk.auditentry": lambda: AuditEntry.objects.create(actor_name="jana", action="takeover", conversation_id=1),
    "integrations.webhookendpoint": factories.WebhookEndpointFactory,
    "integrations.webhookdelivery": lambda: WebhookDelivery.objects.create(
        endpoint=factories.WebhookEndpointFactory(), event="ticket.updated", payload={"data": {}}
    ),
    "integrations.integrationlog": lambda: IntegrationLog.objects.create(event="test.event", data={"a": 1}),
    # DRF's token admin finds a token by its user's id.
    "authtoken.tokenproxy": lambda: Token.objects.create(user=factories.UserFactory()).user,
}
# Traces are written by the copilot and tested in tests/copilot/test_admin.py.
READ_ONLY = {"copilot.copilotturn", "copilot.conversationmemory", "copilot.analyticsevent"}
REGISTERED = sorted(
    model._meta.label_lower for model in admin.site._registry if model._meta.label_lower not in READ_ONLY
)


def admin_url(label: str, view: str, *args) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


def test_every_registered_model_has_a_factory_here():
    assert set(REGISTERED) == set(FACTORIES)


@pytest.mark.parametrize("label", REGISTERED)
def test_staff_can_open_changelist_search_and_change_page(staff_client, label):
    obj = FACTORIES[label]()
    changelist = staff_client.get(admin_url(label, "changelist"))
    assert changelist.status_code == 200
    assert staff_client.get(admin_url(label, "changelist"), {"q": "test"}).status_code == 200
    change = staff_client.get(admin_url(label, "change", obj.pk))
    assert change.status_code == 200


@pytest.mark.parametrize("label", REGISTERED)
def test_staff_can_open_add_page_where_adding_is_allowed(staff_client, label):
    model_admin = next(a for m, a in admin.site._registry.items() if m._meta.label_lower == label)
    response = staff_client.get(admin_url(label, "add"))
    expected = 200 if model_admin.has_add_permission(response.wsgi_request) else 403
    assert response.status_code == expected


@pytest.mark.parametrize("label", REGISTERED)
def test_anonymous_user_is_redirected_to_login(client, label):
    response = client.get(admin_url(label, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_agent_without_staff_flag_cannot_use_admin(client):
    agent = factories.AgentProfileFactory().user
    client.force_login(agent)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_list_filters_work_on_the_busy_lists(staff_client):
    factories.OrderFactory(status="pending")
    factories.TicketFactory(priority="urgent")
    assert staff_client.get(admin_url("crm.order", "changelist"), {"status__exact": "pending"}).status_code == 200
    response = staff_client.get(admin_url("helpdesk.ticket", "changelist"), {"priority__exact": "urgent"})
    assert response.status_code == 200
    assert "Customer asks for a human" in response.content.decode()


def test_publish_action_publishes_drafts(staff_client):
    draft = factories.ArticleFactory(status="draft", published_at=None)
    response = staff_client.post(
        admin_url("knowledge.article", "changelist"),
        {"action": "publish", "_selected_action": [draft.pk]},
        follow=True,
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.is_published


def test_saving_an_article_in_admin_indexes_it(staff_client, django_capture_on_commit_callbacks):
    category = factories.CategoryFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            admin_url("knowledge.article", "add"),
            {
                "title": "Gift cards",
                "slug": "gift-cards",
                "body": "Gift cards never expire.\n\n## Balance\nSee it in your account.",
                "locale": "en",
                "status": "published",
                "category": category.pk,
                "tags": "gift,card",
                "chunks-TOTAL_FORMS": "0",
                "chunks-INITIAL_FORMS": "0",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get(slug="gift-cards")
    assert article.published_at is not None
    assert article.tags == ["gift", "card"]
    # Both short sections fit one chunk, which cites the top of the article.
    assert list(article.chunks.values_list("anchor", flat=True)) == [""]
    assert "## Balance\nSee it in your account." in article.chunks.get().text


def test_article_change_page_shows_a_sanitized_preview(staff_client):
    article = factories.ArticleFactory(body="## Steps\nDo **this**.\n\n<script>alert('x')</script>")
    body = staff_client.get(admin_url("knowledge.article", "change", article.pk)).content.decode()
    assert '<h2 id="steps">Steps</h2>' in body
    assert "<strong>this</strong>" in body
    assert "<script>alert('x')</script>" not in body


def test_try_retrieval_page_ranks_chunks_with_scores_and_confidence(staff_client):
    from knowledge.services import article_index

    article = factories.ArticleFactory(title="Gift cards", body="Gift cards never expire and can be used online.")
    article_index(article=article)
    url = reverse("admin:knowledge_try_retrieval")
    assert staff_client.get(url).status_code == 200
    response = staff_client.get(url, {"q": "do gift cards expire", "locale": "en", "limit": 5})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Gift cards" in body and "Confidence" in body and "the copilot would answer" in body
    assert "Try retrieval" in staff_client.get(admin_url("knowledge.article", "changelist")).content.decode()


def test_try_retrieval_needs_staff(client):
    response = client.get(reverse("admin:knowledge_try_retrieval"), {"q": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_gap_actions_change_status(staff_client):
    gap = factories.KnowledgeGapFactory()
    staff_client.post(
        admin_url("knowledge.knowledgegap", "changelist"), {"action": "mark_resolved", "_selected_action": [gap.pk]}
    )
    gap.refresh_from_db()
    assert gap.status == "resolved"


def test_live_preview_renders_and_sanitises_an_unsaved_body(staff_client):
    url = reverse("admin:knowledge_article_preview")
    response = staff_client.post(url, {"body": "## Draft\nNew **text** <img src=x onerror=alert(1)>"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h2 id="draft">Draft</h2>' in html and "<strong>text</strong>" in html
    assert "onerror" not in html and "<img" not in html
    assert staff_client.get(url).status_code == 405


def test_live_preview_needs_staff(client):
    response = client.post(reverse("admin:knowledge_article_preview"), {"body": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_article_form_loads_the_preview_script(staff_client):
    body = staff_client.get(admin_url("knowledge.article", "add")).content.decode()
    assert "knowledge/admin_preview.js" in body
    assert 'class="kb-preview"' in body
