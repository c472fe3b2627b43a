"""The REST API: the widget's endpoints (conversation token), the agents' (login or token) and the
integration API (token with the integrations.use_api permission)."""

from django.urls import include, path

from helpdesk.api import widget

urlpatterns = [
    path("widget/conversations", widget.WidgetConversationsView.as_view(), name="api-widget-conversations"),
    path("widget/conversation", widget.WidgetConversationView.as_view(), name="api-widget-conversation"),
    path("widget/conversation/email", widget.WidgetContactEmailView.as_view(), name="api-widget-email"),
    path("widget/conversation/csat", widget.WidgetCsatView.as_view(), name="api-widget-csat"),
    path("", include("helpdesk.api.agent_urls")),
    path("", include("integrations.urls")),
]
