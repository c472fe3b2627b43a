from django.urls import path

from knowledge import views

app_name = "help"

urlpatterns = [
    path("", views.help_index, name="index"),
    # Before the article route, which would otherwise take "search" for a slug.
    path("search/", views.help_search, name="search"),
    path("<slug:slug>/", views.help_article, name="article"),
]
