from django.contrib import admin
from django.utils.text import Truncator

from helpdesk.models import AgentProfile, AuditEntry, Conversation, Message, Ticket


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["created_at", "role", "content", "author", "client_message_id"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["author"]


class TicketInline(admin.TabularInline):
    model = Ticket
    extra = 0
    fields = ["kind", "subject", "priority", "status", "assignee", "sla_due_at"]
    raw_id_fields = ["assignee"]
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "channel", "status", "assigned_agent", "language", "last_message_at"]
    list_filter = ["status", "channel", "language", "assigned_agent"]
    search_fields = ["public_id", "subject", "customer__name", "customer__email", "customer__external_id"]
    list_select_related = ["customer", "assigned_agent"]
    raw_id_fields = ["customer", "assigned_agent"]
    readonly_fields = ["public_id", "created_at", "updated_at", "last_message_at"]
    date_hierarchy = "created_at"
    inlines = [TicketInline, MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "role", "excerpt", "author", "created_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["content", "client_message_id", "conversation__customer__name"]
    list_select_related = ["conversation", "author"]
    raw_id_fields = ["conversation", "author"]
    readonly_fields = ["created_at"]

    @admin.display(description="content")
    def excerpt(self, obj: Message) -> str:
        return Truncator(obj.content).chars(80)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["reference", "subject", "kind", "priority", "status", "customer", "assignee", "sla_due_at"]
    list_filter = ["status", "priority", "kind", "assignee"]
    search_fields = ["subject", "reason", "customer__name", "customer__email"]
    list_select_related = ["customer", "assignee"]
    raw_id_fields = ["conversation", "customer", "assignee"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "created_at"


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "presence", "max_concurrent_chats", "last_seen_at"]
    list_filter = ["presence"]
    search_fields = ["display_name", "user__username", "user__email"]
    raw_id_fields = ["user"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the system writes (copilot traces, the audit log); people only read them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "action", "conversation_id", "customer_id"]
    list_filter = ["action", "actor"]
    search_fields = ["actor_name", "conversation_id", "customer_id"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "actor", "actor_name", "action", "conversation_id", "customer_id", "detail"]
