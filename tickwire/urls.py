"""URL configuration: home page, admin, REST API and the realtime views."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("tickwire.assets.urls")),
    path("", include("tickwire.realtime.urls")),
]
