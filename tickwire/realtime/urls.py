from django.urls import path

from . import pages, views
from .api import ForcePriceUpdateView

urlpatterns = [
    path("", views.home, name="home"),
    path("realtime/dashboard/", pages.dashboard, name="realtime-dashboard"),
    path("realtime/test/", pages.test_console, name="realtime-test"),
    path("realtime/websocket-info/", views.websocket_info, name="websocket-info"),
    path("realtime/status/", views.status, name="realtime-status"),
    path("realtime/health/", views.health, name="realtime-health"),
    path("realtime/live/", views.live, name="realtime-live"),
    path("realtime/ready/", views.ready, name="realtime-ready"),
    path("metrics", views.prometheus_metrics, name="metrics"),
    path(
        "api/realtime/force_price_update/",
        ForcePriceUpdateView.as_view(),
        name="force-price-update",
    ),
]
