from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIMENSIONS = 384

# PostgreSQL ships no Czech stemmer; `simple` still matches whole words.
SEARCH_CONFIGS = {"en": "english", "de": "german", "ru": "russian"}


class Category(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=120)
    # The id in the system an article was imported from; imports upsert by it.
    external_id = models.CharField(max_length=200, blank=True, default="")
    body = models.TextField(help_text="Markdown. Use ## headings for sections; each becomes a citable anchor.")
    locale = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, null=True, blank=True, related_name="articles")
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    # sha256 of what was last chunked and embedded; unchanged content is not re-embedded.
    indexed_hash = models.CharField(max_length=64, blank=True, editable=False)
    # FAQ-style questions match titles well, so the title has a vector of its own; retrieval
    # blends it into every candidate chunk's score (no index: it is never searched alone).
    title_embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True, editable=False)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["locale", "title"]
        constraints = [
            models.UniqueConstraint(fields=["locale", "slug"], name="knowledge_article_locale_slug_unique"),
            models.UniqueConstraint(
                fields=["external_id"], condition=~Q(external_id=""), name="knowledge_article_external_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "published"]), name="knowledge_article_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="published") | Q(published_at__isnull=False),
                name="knowledge_article_published_has_date",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="knowledge_article_title_not_empty"),
        ]
        indexes = [
            models.Index(fields=["status", "locale", "category"], name="knowledge_article_list_idx"),
            GinIndex(fields=["tags"], name="knowledge_article_tags_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} [{self.locale}]"

    @property
    def search_config(self) -> str:
        return SEARCH_CONFIGS.get(self.locale, "simple")

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class ArticleChunk(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    # Heading path such as "Returns > How to send it back"; the anchor is the last heading's slug.
    heading = models.CharField(max_length=300, blank=True)
    anchor = models.CharField(max_length=120, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    embedding_model = models.CharField(max_length=100)
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["article", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["article", "ordinal"], name="knowledge_chunk_article_ordinal_unique"),
        ]
        indexes = [
            HnswIndex(
                name="knowledge_chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="knowledge_chunk_search_gin"),
            models.Index(fields=["embedding_model"], name="knowledge_chunk_model_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.article.slug} #{self.ordinal}"


class KnowledgeGap(models.Model):
    """Customer questions the knowledge base could not answer confidently, grouped by similarity."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        IGNORED = "ignored", "Ignored"

    question = models.TextField(help_text="The first question of the group.")
    locale = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    # Recent paraphrases of the question, newest first, for the curator.
    examples = models.JSONField(default=list, blank=True)
    count = models.PositiveIntegerField(default=1)
    best_confidence = models.FloatField(help_text="The highest retrieval confidence seen for this group.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-count", "-last_seen_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "resolved", "ignored"]), name="knowledge_gap_status_valid"
            ),
            models.CheckConstraint(condition=Q(count__gte=1), name="knowledge_gap_count_positive"),
            models.CheckConstraint(
                condition=Q(best_confidence__gte=0) & Q(best_confidence__lte=1), name="knowledge_gap_confidence_range"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-count"], name="knowledge_gap_list_idx"),
            HnswIndex(
                name="knowledge_gap_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question[:80]} (×{self.count})"
