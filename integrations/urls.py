"""The integration API under /api/ (docs/integrations.md)."""

from django.urls import path

from integrations import api

urlpatterns = [
    path("accounts/<str:account_id>", api.AccountView.as_view(), name="api-integration-account"),
    path("support/escalate", api.EscalateView.as_view(), name="api-integration-escalate"),
    path("support/send", api.SendView.as_view(), name="api-integration-send"),
    path("analytics/log", api.AnalyticsLogView.as_view(), name="api-integration-log"),
    path("chat", api.ChatView.as_view(), name="api-integration-chat"),
    path(
        "privacy/customers/<str:customer_id>/export",
        api.CustomerExportView.as_view(),
        name="api-integration-customer-export",
    ),
    path(
        "privacy/customers/<str:customer_id>/erase",
        api.CustomerEraseView.as_view(),
        name="api-integration-customer-erase",
    ),
]
