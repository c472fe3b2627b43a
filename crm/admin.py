from django.contrib import admin

from crm.models import Account, Customer, Order, OrderItem, Product


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
