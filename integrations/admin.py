from django import forms
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.utils.html import format_html, format_html_join

from integrations.models import IntegrationLog, WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.services.webhooks import webhook_delivery_redeliver, webhook_endpoint_ping


class WebhookEndpointForm(forms.ModelForm):
    # Only HTTP(S): the sender speaks nothing else, and an ftp:// URL would only fail eight times.
    url = forms.URLField(max_length=500, assume_scheme="https", validators=[URLValidator(schemes=["http", "https"])])
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "secret", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "event_list", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    actions = ["ping"]

    @admin.display(description="events")
    def event_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events)

    @admin.action(description="Send a test event (webhook.ping)", permissions=["change"])
    def ping(self, request, queryset):
        endpoints = list(queryset)
        for endpoint in endpoints:
            webhook_endpoint_ping(endpoint=endpoint)
        self.message_user(
            request,
            f"Sent webhook.ping to {len(endpoints)} endpoints; see the outcome in Webhook deliveries.",
            messages.SUCCESS,
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event", "endpoint", "status", "attempts", "last_status_code", "delivered_at"]
    list_filter = ["status", "event", "endpoint"]
    search_fields = ["event_id", "last_error"]
    list_select_related = ["endpoint"]
    date_hierarchy = "created_at"
    actions = ["redeliver"]
    fields = [
        "endpoint",
        "event",
        "event_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "attempts_table",
        "payload",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="attempt log")
    def attempts_table(self, obj: WebhookDelivery):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry.get("attempt"),
                    entry.get("at"),
                    entry.get("status_code") or "—",
                    entry.get("ms"),
                    entry.get("error"),
                )
                for entry in obj.attempt_log
            ),
        )
        if not obj.attempt_log:
            return "—"
        return format_html(
            "<table><tr><th>#</th><th>at</th><th>HTTP</th><th>ms</th><th>error</th></tr>{}</table>", rows
        )

    @admin.action(description="Redeliver the selected deliveries", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        for delivery_id in queryset.values_list("pk", flat=True):
            webhook_delivery_redeliver(delivery_id=delivery_id)
        self.message_user(request, f"Queued {queryset.count()} deliveries again.", messages.SUCCESS)

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("integrations.change_webhookdelivery")


@admin.register(IntegrationLog)
class IntegrationLogAdmin(admin.ModelAdmin):
    list_display = ["reference", "event", "customer", "conversation", "source", "created_at"]
    list_filter = ["event", "source"]
    search_fields = ["event", "customer__external_id", "customer__name"]
    list_select_related = ["customer", "conversation", "source"]
    date_hierarchy = "created_at"
    fields = ["event", "customer", "conversation", "source", "data", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
