from django.urls import path

from helpdesk.console import analytics, views

app_name = "console"

urlpatterns = [
    path("", views.console_index, name="index"),
    path("login/", views.ConsoleLoginView.as_view(), name="login"),
    path("logout/", views.ConsoleLogoutView.as_view(), name="logout"),
    path("analytics/", analytics.analytics_page, name="analytics"),
    path("analytics/export.csv", analytics.analytics_export, name="analytics-export"),
]
