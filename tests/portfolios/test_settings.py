"""The new settings are validated at start, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TICKWIRE_PORTFOLIO_THROTTLE_SECONDS", "-1"),
        ("TICKWIRE_PORTFOLIO_THROTTLE_SECONDS", "soon"),
        ("TICKWIRE_SESSION_CHECK_SECONDS", "0"),
    ],
)
def test_bad_value_stops_the_process_with_a_message_naming_it(name, value):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tickwire.settings.test", name: value}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"setting {name}={value!r} is invalid" in result.stderr


def test_defaults(settings):
    from tickwire.settings import base

    assert base.TICKWIRE_PORTFOLIO_THROTTLE_SECONDS == 1.0
    assert base.TICKWIRE_SESSION_CHECK_SECONDS == 60.0
    assert base.MAX_CONNECTIONS_PER_USER == 5
