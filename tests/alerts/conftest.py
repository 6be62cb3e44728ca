"""The evaluator tests' owner, assets and portfolio (test_evaluator.py, _service.py)."""

from __future__ import annotations

import pytest

from tests.alerts.test_evaluator import create_assets, create_owner, create_portfolio


@pytest.fixture
def owner():
    return create_owner()


@pytest.fixture
def assets():
    return create_assets()


@pytest.fixture
def portfolio(owner, assets):
    return create_portfolio(owner, assets)
