from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from copilot.models import AnalyticsEvent, ConversationMemory, CopilotTurn, Intent, IntentExample
from helpdesk.admin import ReadOnlyAdmin


class IntentExampleInline(admin.TabularInline):
    model = IntentExample
    extra = 3
    fields = ["text", "embedding_model"]
    readonly_fields = ["embedding_model"]


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "tool", "escalates", "is_active", "example_count"]
    list_filter = ["tool", "escalates", "is_active"]
    search_fields = ["name", "label", "examples__text"]
    inlines = [IntentExampleInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(example_count=Count("examples", distinct=True))

    @admin.display(ordering="example_count", description="examples")
    def example_count(self, obj: Intent) -> int:
        return obj.example_count


@admin.register(CopilotTurn)
class CopilotTurnAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "conversation",
        "engine",
        "intent",
        "sentiment",
        "urgency",
        "escalated",
        "qa_score",
        "flagged",
        "total_ms",
    ]
    list_filter = ["engine", "delivery", "intent", "sentiment", "urgency", "escalated", "flagged", "regenerated"]
    search_fields = ["customer_message__content", "reply__content"]
    list_select_related = ["conversation"]
    date_hierarchy = "created_at"
    exclude = ["steps"]
    readonly_fields = ["timings"]

    @admin.display(description="steps (ms)")
    def timings(self, obj: CopilotTurn) -> str:
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308 (a constant separator)
            "{}: {} ms{}",
            ((step["name"], step["ms"], "" if step["ok"] else " (failed)") for step in obj.steps),
        )


@admin.register(ConversationMemory)
class ConversationMemoryAdmin(ReadOnlyAdmin):
    list_display = ["conversation", "summary", "turn_count", "failure_streak", "updated_at"]
    search_fields = ["summary"]


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(ReadOnlyAdmin):
    list_display = ["kind", "turn", "conversation", "created_at"]
    list_filter = ["kind"]
