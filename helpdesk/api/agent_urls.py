"""The agent console's REST API under /api/ (docs/live-chat.md, "Agent console")."""

from django.urls import path

from helpdesk.api import agents

urlpatterns = [
    path("conversations", agents.ConversationListView.as_view(), name="api-conversations"),
    path("conversations/<int:pk>", agents.ConversationView.as_view(), name="api-conversation"),
    path(
        "conversations/<int:pk>/messages", agents.ConversationMessagesView.as_view(), name="api-conversation-messages"
    ),
    path(
        "conversations/<int:pk>/take-over", agents.ConversationTakeOverView.as_view(), name="api-conversation-take-over"
    ),
    path("conversations/<int:pk>/reply", agents.ConversationReplyView.as_view(), name="api-conversation-reply"),
    path("conversations/<int:pk>/notes", agents.ConversationNotesView.as_view(), name="api-conversation-notes"),
    path(
        "conversations/<int:pk>/hand-back", agents.ConversationHandBackView.as_view(), name="api-conversation-hand-back"
    ),
    path("conversations/<int:pk>/resolve", agents.ConversationResolveView.as_view(), name="api-conversation-resolve"),
    path("conversations/<int:pk>/assign", agents.ConversationAssignView.as_view(), name="api-conversation-assign"),
    path("conversations/<int:pk>/suggest", agents.ConversationSuggestView.as_view(), name="api-conversation-suggest"),
    path("tickets", agents.TicketListView.as_view(), name="api-tickets"),
    path("tickets/<int:pk>", agents.TicketView.as_view(), name="api-ticket"),
    path("customers", agents.CustomerListView.as_view(), name="api-customers"),
    path("customers/<int:pk>", agents.CustomerView.as_view(), name="api-customer"),
    path("agents", agents.AgentListView.as_view(), name="api-agents"),
]
