from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from knowledge.forms import TryRetrievalForm
from knowledge.models import Article, ArticleChunk, Category, KnowledgeGap
from knowledge.rendering import article_render_html
from knowledge.selectors import kb_search
from knowledge.services import article_reindex_schedule, article_save, article_status_set, knowledge_gap_status_set
from knowledge.untrusted import instructions_find

MAX_PREVIEW_CHARS = 200_000


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "article_count"]
    search_fields = ["name", "slug", "description"]
    list_filter = ["articles__locale"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_article_count=Count("articles", distinct=True))

    @admin.display(description="articles", ordering="_article_count")
    def article_count(self, obj: Category) -> int:
        return obj._article_count


class ArticleChunkInline(admin.TabularInline):
    model = ArticleChunk
    extra = 0
    can_delete = False
    fields = ["ordinal", "heading", "anchor", "token_count", "embedding_model"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "locale", "category", "status", "chunk_count", "updated_at", "help_link"]
    list_filter = ["status", "locale", "category"]
    search_fields = ["title", "slug", "body", "tags", "external_id"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = [
        "preview",
        "withheld",
        "external_id",
        "published_at",
        "created_at",
        "updated_at",
        "indexed_hash",
    ]
    fieldsets = [
        (None, {"fields": ["title", "slug", "locale", "status", "category", "tags", "body"]}),
        (
            "Preview",
            {"fields": ["preview", "withheld"], "description": "As the help centre renders it; updates as you type."},
        ),
        ("Indexing", {"classes": ["collapse"], "fields": ["external_id", "indexed_hash", "published_at"]}),
    ]
    list_select_related = ["category"]
    actions = ["publish", "unpublish", "reembed"]
    inlines = [ArticleChunkInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_chunk_count=Count("chunks"))

    class Media:
        js = ["knowledge/admin_preview.js"]
        css = {"all": ["knowledge/admin_preview.css"]}

    def get_urls(self):
        urls = super().get_urls()
        try_retrieval = path(
            "try-retrieval/", self.admin_site.admin_view(self.try_retrieval_view), name="knowledge_try_retrieval"
        )
        preview = path("preview/", self.admin_site.admin_view(self.preview_view), name="knowledge_article_preview")
        return [try_retrieval, preview, *urls]

    @admin.display(description="chunks", ordering="_chunk_count")
    def chunk_count(self, obj: Article) -> int:
        return obj._chunk_count

    @admin.display(description="help centre")
    def help_link(self, obj: Article) -> str:
        if not obj.is_published:
            return "–"
        suffix = "" if obj.locale == settings.LANGUAGE_CODE else f"?lang={obj.locale}"
        return format_html('<a href="/help/{}/{}" target="_blank" rel="noopener">view</a>', obj.slug, suffix)

    @admin.display(description="rendered body")
    def preview(self, obj: Article) -> SafeString:
        # The script in Media refreshes this box from preview_view as the body is edited.
        return format_html(
            '<div class="kb-preview" data-url="{}" aria-live="polite">{}</div>',
            reverse("admin:knowledge_article_preview"),
            article_render_html(body=obj.body) if obj.pk else "",
        )

    @admin.display(description="withheld from the copilot")
    def withheld(self, obj: Article) -> SafeString:
        sentences = instructions_find(f"{obj.title}\n{obj.body}")
        if not sentences:
            return "–"
        return format_html(
            "<p>These sentences speak to an AI assistant, so the copilot never sees them:</p><ul>{}</ul>",
            format_html_join("", "<li>{}</li>", ((sentence,) for sentence in sentences)),
        )

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The help centre's rendering of an unsaved body: Markdown, then sanitised."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        body = request.POST.get("body", "")[:MAX_PREVIEW_CHARS]
        return HttpResponse(article_render_html(body=body))

    def save_model(self, request: HttpRequest, obj: Article, form, change: bool) -> None:
        article_save(article=obj)
        if sentences := instructions_find(f"{obj.title}\n{obj.body}"):
            self.message_user(
                request,
                f"{len(sentences)} sentence(s) of this article speak to an AI assistant and are withheld "
                "from the copilot; see \u201cwithheld from the copilot\u201d below.",
                messages.WARNING,
            )

    @admin.action(description="Publish selected articles")
    def publish(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = article_status_set(article_ids=list(queryset.values_list("pk", flat=True)), status="published")
        self.message_user(request, f"Published {changed} article(s).", messages.SUCCESS)

    @admin.action(description="Unpublish selected articles")
    def unpublish(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = article_status_set(article_ids=list(queryset.values_list("pk", flat=True)), status="draft")
        self.message_user(request, f"Unpublished {changed} article(s).", messages.SUCCESS)

    @admin.action(description="Re-embed selected articles")
    def reembed(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        article_reindex_schedule(article_ids=ids)
        self.message_user(request, f"Re-embedding {len(ids)} article(s).", messages.SUCCESS)

    def try_retrieval_view(self, request: HttpRequest) -> HttpResponse:
        form = TryRetrievalForm(request.GET or None)
        result = None
        if form.is_valid():
            category = form.cleaned_data["category"]
            result = kb_search(
                query=form.cleaned_data["q"],
                locale=form.cleaned_data["locale"],
                category=category.slug if category else None,
                limit=form.cleaned_data["limit"],
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Try retrieval",
            "opts": self.model._meta,
            "form": form,
            "result": result,
            "threshold": settings.KB_ANSWER_THRESHOLD,
        }
        return TemplateResponse(request, "admin/knowledge/try_retrieval.html", context)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra = {"try_retrieval_url": reverse("admin:knowledge_try_retrieval"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)


@admin.register(ArticleChunk)
class ArticleChunkAdmin(admin.ModelAdmin):
    list_display = ["article", "ordinal", "heading", "anchor", "token_count", "embedding_model"]
    list_filter = ["embedding_model", "article__locale", "article__status"]
    search_fields = ["text", "heading", "article__title"]
    list_select_related = ["article"]
    exclude = ["embedding"]
    readonly_fields = ["article", "ordinal", "text", "heading", "anchor", "token_count", "embedding_model"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(KnowledgeGap)
class KnowledgeGapAdmin(admin.ModelAdmin):
    list_display = ["question", "locale", "count", "confidence", "status", "last_seen_at", "first_seen_at"]
    list_filter = ["status", "locale", "last_seen_at"]
    search_fields = ["question", "examples"]
    readonly_fields = ["question", "locale", "examples", "count", "best_confidence", "first_seen_at", "last_seen_at"]
    exclude = ["embedding"]
    actions = ["mark_resolved", "mark_ignored", "reopen"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="best confidence", ordering="best_confidence")
    def confidence(self, obj: KnowledgeGap) -> str:
        return f"{obj.best_confidence:.2f}"

    def _set(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        changed = knowledge_gap_status_set(gap_ids=list(queryset.values_list("pk", flat=True)), status=status)
        self.message_user(request, f"Marked {changed} gap(s) {status}.", messages.SUCCESS)

    @admin.action(description="Mark resolved (an article now answers it)")
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set(request, queryset, KnowledgeGap.Status.RESOLVED)

    @admin.action(description="Ignore (out of scope)")
    def mark_ignored(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set(request, queryset, KnowledgeGap.Status.IGNORED)

    @admin.action(description="Reopen")
    def reopen(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set(request, queryset, KnowledgeGap.Status.OPEN)
