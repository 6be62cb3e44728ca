"""Portfolio services: live prices from the running server, change events after commit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from tickwire.portfolios.demo import load_demo_data
from tickwire.portfolios.models import Portfolio, Position
from tickwire.portfolios.services import bind_price_source
from tickwire.portfolios.valuation import Price
from tickwire.stream import control

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    load_demo_data()
    return Portfolio.objects.get(owner__username="demo")


def aapl_price(client: APIClient, portfolio: Portfolio) -> Decimal:
    detail = client.get(f"/api/portfolios/{portfolio.pk}/").json()
    return next(Decimal(p["price"]) for p in detail["positions"] if p["symbol"] == "AAPL")


def test_the_api_values_at_the_bound_live_prices_and_at_stored_ones_without(demo):
    client = APIClient()
    client.login(username="demo", password="demo")
    assert aapl_price(client, demo) == Decimal("268.40")  # stored: no server runs here
    live = {"AAPL": Price(Decimal("300.00"), Decimal("268.40"))}
    unbind = bind_price_source(live.get)
    try:
        assert aapl_price(client, demo) == Decimal("300.00")
    finally:
        unbind()
    assert aapl_price(client, demo) == Decimal("268.40")


def test_position_changes_publish_once_per_portfolio_after_the_commit(
    demo, django_capture_on_commit_callbacks
):
    sent: list[tuple[str, bytes]] = []

    def publisher(channel: str, body: bytes) -> bool:
        sent.append((channel, body))
        return True

    unbind = control.bind_publisher(publisher)
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            for position in Position.objects.filter(portfolio=demo):
                position.quantity += 1
                position.save()
            assert sent == []  # not before the commit: a rolled-back edit publishes nothing
        # Five saved positions, one message. (Other ids may ride along: those of earlier
        # tests' transactions, which the test database rolls back instead of committing.)
        mine = [body for channel, body in sent if channel == f"control.portfolio.{demo.pk}"]
        assert len(mine) == 1 and b'"event":"changed"' in mine[0]
    finally:
        unbind()
