"""Demo data service and the ``load_demo_data`` management command."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from pytest_django import Settings

from tickwire.assets.models import Asset
from tickwire.portfolios.demo import (
    DEMO_ASSETS,
    DEMO_PASSWORD,
    DEMO_POSITIONS,
    DEMO_USERNAME,
    DemoDataDisabled,
    DemoSummary,
    add_demo_data,
    load_demo_data,
    load_demo_data_once,
)
from tickwire.portfolios.models import Portfolio, Position

pytestmark = pytest.mark.django_db

MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"


def test_demo_specs_cover_every_kind_with_consistent_quotes() -> None:
    assert len(DEMO_ASSETS) >= 12
    assert {spec.kind for spec in DEMO_ASSETS} == set(Asset.Kind.values)
    assert len({spec.symbol for spec in DEMO_ASSETS}) == len(DEMO_ASSETS)
    for spec in DEMO_ASSETS:
        assert spec.day_low <= spec.price <= spec.day_high, spec.symbol
        assert spec.previous_close > 0, spec.symbol
        assert len(spec.currency) == 3, spec.symbol
    by_symbol = {spec.symbol: spec for spec in DEMO_ASSETS}
    assert by_symbol["USD-JPY"].currency == "JPY"
    assert by_symbol["EUR-USD"].currency == "USD"
    assert by_symbol["BTC-USD"].exchange == "COINBASE"


def test_load_creates_assets_user_and_portfolio(demo_data: DemoSummary) -> None:
    assert demo_data.assets_created == len(DEMO_ASSETS)
    assert demo_data.user_created and demo_data.portfolio_created
    assert Asset.objects.filter(is_active=True).count() == len(DEMO_ASSETS)
    assert set(Asset.objects.values_list("kind", flat=True)) == set(Asset.Kind.values)
    assert not Asset.objects.filter(last_updated__isnull=True).exists()
    aapl = Asset.objects.get(symbol="AAPL")
    assert aapl.exchange == "NASDAQ"
    assert aapl.change is not None and aapl.change_percent is not None

    portfolio = Portfolio.objects.get(owner__username=DEMO_USERNAME, name="Demo Portfolio")
    assert portfolio.currency == "USD"
    held = {p.asset.symbol: p.quantity for p in portfolio.positions.select_related("asset")}
    assert held == {spec.symbol: spec.quantity for spec in DEMO_POSITIONS}
    assert held["BTC-USD"] == Decimal("0.25")


def test_demo_user_can_log_in_with_demo_demo(demo_data: DemoSummary) -> None:
    user = authenticate(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    assert user is not None and user.get_username() == "demo"


def test_load_is_idempotent_and_repairs_changes(demo_data: DemoSummary) -> None:
    user = get_user_model().objects.get(username=DEMO_USERNAME)
    user.set_password("changed")
    user.save()
    Asset.objects.filter(symbol="AAPL").update(current_price=Decimal("1"))

    second = load_demo_data()

    assert second.assets_created == 0 and second.assets_updated == len(DEMO_ASSETS)
    assert not second.user_created and not second.portfolio_created
    assert Asset.objects.count() == len(DEMO_ASSETS)
    assert get_user_model().objects.filter(username=DEMO_USERNAME).count() == 1
    assert Portfolio.objects.count() == 1
    assert Position.objects.count() == len(DEMO_POSITIONS)
    assert Asset.objects.get(symbol="AAPL").current_price == Decimal("268.40")
    assert authenticate(username=DEMO_USERNAME, password=DEMO_PASSWORD) is not None


def test_command_prints_one_line_summary() -> None:
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    text = out.getvalue().strip()
    assert len(text.splitlines()) == 1
    assert f"{len(DEMO_ASSETS)} assets" in text and "Demo Portfolio" in text
    assert Asset.objects.count() == len(DEMO_ASSETS)


def test_command_refuses_when_demo_data_disabled(settings: Settings) -> None:
    settings.TICKWIRE_DEMO_DATA = False
    with pytest.raises(CommandError, match="TICKWIRE_DEMO_DATA"):
        call_command("load_demo_data", stdout=StringIO())
    assert not get_user_model().objects.filter(username=DEMO_USERNAME).exists()
    assert Asset.objects.count() == 0


def test_service_refuses_too_when_disabled(settings: Settings) -> None:
    settings.TICKWIRE_DEMO_DATA = False
    with pytest.raises(DemoDataDisabled):
        load_demo_data()
    assert not get_user_model().objects.filter(username=DEMO_USERNAME).exists()


def test_manage_py_exits_non_zero_under_production_settings(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tickwire.settings.production",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, str(MANAGE_PY), "load_demo_data"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Refusing to load demo data" in result.stderr


def test_adding_demo_data_keeps_what_users_changed(demo_data: DemoSummary) -> None:
    user = get_user_model().objects.get(username=DEMO_USERNAME)
    user.set_password("changed-Password-1")
    user.save()
    Asset.objects.filter(symbol="AAPL").update(current_price=Decimal("1"))
    Position.objects.filter(asset__symbol="AAPL").update(quantity=Decimal("42"))
    Position.objects.filter(asset__symbol="MSFT").delete()
    Asset.objects.filter(symbol="USD-JPY").delete()

    added = add_demo_data()

    assert added.assets_created == 1 and not added.user_created and not added.portfolio_created
    assert "user 'demo' (kept)" in str(added) and "1 created" in str(added)
    assert Asset.objects.get(symbol="AAPL").current_price == Decimal("1")
    assert Position.objects.get(asset__symbol="AAPL").quantity == Decimal("42")
    assert not Position.objects.filter(asset__symbol="MSFT").exists()
    assert authenticate(username=DEMO_USERNAME, password="changed-Password-1") is not None
    assert Asset.objects.filter(symbol="USD-JPY").exists()


def test_the_demo_loads_once_into_a_database_without_assets() -> None:
    first = load_demo_data_once()
    assert first is not None and first.assets_created == len(DEMO_ASSETS)
    Position.objects.filter(asset__symbol="AAPL").update(quantity=Decimal("42"))
    assert load_demo_data_once() is None
    assert Position.objects.get(asset__symbol="AAPL").quantity == Decimal("42")


def test_the_command_adds_and_only_reset_puts_the_demo_back(demo_data: DemoSummary) -> None:
    Position.objects.filter(asset__symbol="AAPL").update(quantity=Decimal("42"))
    call_command("load_demo_data", stdout=StringIO())
    assert Position.objects.get(asset__symbol="AAPL").quantity == Decimal("42")
    out = StringIO()
    call_command("load_demo_data", "--reset", stdout=out)
    assert Position.objects.get(asset__symbol="AAPL").quantity == Decimal("10")
    assert "password reset" in out.getvalue()
