"""The REST API: the widget's endpoints (conversation token) and the agents' (login or token)."""

from django.urls import include, path

from helpdesk.api import widget

urlpatterns = [
    path("widget/conversations", widget.WidgetConversationsView.as_view(), name="api-widget-conversations"),
    path("widget/conversation", widget.WidgetConversationView.as_view(), name="api-widget-conversation"),
    path("widget/conversation/email", widget.WidgetContactEmailView.as_view(), name="api-widget-email"),
    path("widget/conversation/csat", widget.WidgetCsatView.as_view(), name="api-widget-csat"),
    path("", include("helpdesk.api.agent_urls")),
]
