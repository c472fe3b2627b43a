from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from helpdesk import views
from knowledge.api import KbSearchView

admin.site.site_header = "Support Copilot administration"
admin.site.site_title = "Support Copilot"
admin.site.index_title = "Helpdesk, CRM and knowledge base"

# JSON under /api/ (an id that is not a number matches no route), Django's page elsewhere.
handler404 = "helpdesk.api.errors.page_not_found"

urlpatterns = [
    path("", views.home, name="home"),
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("metrics", views.metrics, name="metrics"),
    path("demo/", views.demo_shop, name="demo"),
    path("console/", include("helpdesk.console.urls")),
    path("api/", include("helpdesk.api.urls")),
    path("admin/", admin.site.urls),
    path("help/", include("knowledge.urls")),
    path("api/kb/search", KbSearchView.as_view(), name="api-kb-search"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
