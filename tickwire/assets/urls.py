"""API routes, included at ``/api/`` by :mod:`tickwire.urls`."""

from django.urls import path

from .api import AssetBarsView, AssetDetailView, AssetListView

urlpatterns = [
    path("assets/", AssetListView.as_view(), name="asset-list"),
    # <str:symbol> (not slug) so symbols like BRK.B reach the view.
    path("assets/<str:symbol>/", AssetDetailView.as_view(), name="asset-detail"),
    path("assets/<str:symbol>/bars/", AssetBarsView.as_view(), name="asset-bars"),
]
