"""URL configuration: home page, accounts, admin, REST API (with schema and docs), realtime."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tickwire.csp import allow_inline_styles

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("tickwire.accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        allow_inline_styles(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
    path("api/", include("tickwire.portfolios.urls")),
    path("api/", include("tickwire.assets.urls")),
    path("api/", include("tickwire.alerts.urls")),
    path("", include("tickwire.realtime.urls")),
]
