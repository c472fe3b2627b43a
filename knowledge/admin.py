from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from knowledge.models import Article, ArticleChunk, Category
from knowledge.services import article_reindex_schedule, article_save, article_status_set


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
    list_display = ["title", "locale", "category", "status", "chunk_count", "updated_at"]
    list_filter = ["status", "locale", "category"]
    search_fields = ["title", "slug", "body", "tags"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["published_at", "created_at", "updated_at", "indexed_hash"]
    list_select_related = ["category"]
    actions = ["publish", "unpublish", "reembed"]
    inlines = [ArticleChunkInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_chunk_count=Count("chunks"))

    @admin.display(description="chunks", ordering="_chunk_count")
    def chunk_count(self, obj: Article) -> int:
        return obj._chunk_count

    def save_model(self, request: HttpRequest, obj: Article, form, change: bool) -> None:
        article_save(article=obj)

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
