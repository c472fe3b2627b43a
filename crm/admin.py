import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from crm.models import Account, Customer, Order, OrderItem, Product
from helpdesk.services.retention import customer_erase, customer_export


class AccountInline(admin.StackedInline):
    model = Account
    extra = 0
    can_delete = False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "external_id", "tier", "locale", "created_at"]
    list_filter = ["tier", "locale", "account__status", "account__subscription_tier"]
    search_fields = ["name", "email", "external_id", "phone"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [AccountInline]
    actions = ["export_json", "erase"]

    @admin.action(description="Export the selected customers' data (JSON)", permissions=["view"])
    def export_json(self, request, queryset):
        exports = [customer_export(customer=customer, by=request.user) for customer in queryset]
        response = HttpResponse(
            json.dumps(exports, ensure_ascii=False, indent=2, default=str), content_type="application/json"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="customers-export-{stamp}.json"'
        return response

    @admin.action(description="Erase the selected customers (anonymise; keeps the aggregates)", permissions=["change"])
    def erase(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/crm/customer/erase_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Erase customers' data?",
                    "customers": queryset,
                    "opts": self.model._meta,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        for customer in queryset:
            customer_erase(customer=customer, by=request.user)
        self.message_user(request, f"Erased {queryset.count()} customers.", messages.SUCCESS)
        return None


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "status", "subscription_tier", "balance", "currency", "last_payment_at"]
    list_filter = ["status", "subscription_tier", "currency"]
    search_fields = ["number", "customer__name", "customer__email", "customer__external_id"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "price", "currency", "is_active"]
    list_filter = ["is_active", "category", "currency"]
    search_fields = ["sku", "name", "description"]


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "status", "total", "currency", "placed_at", "shipped_at", "delivered_at"]
    list_filter = ["status", "currency", "carrier", "placed_at"]
    search_fields = ["number", "tracking_number", "customer__name", "customer__email", "customer__external_id"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    date_hierarchy = "placed_at"
    readonly_fields = ["created_at", "updated_at"]
    inlines = [OrderItemInline]
