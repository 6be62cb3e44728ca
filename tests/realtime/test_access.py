"""TICKWIRE_METRICS_ALLOW is checked at start: a wrong entry names the variable."""

import pytest

from tickwire.env import SettingError
from tickwire.realtime.access import networks, token_matches


def test_addresses_and_networks_of_both_families_are_accepted():
    got = networks(["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "192.168.1.7/24"])
    assert [str(n) for n in got] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
        "fd00::/8",
        "192.168.1.0/24",
    ]


def test_a_wrong_entry_names_the_variable():
    with pytest.raises(SettingError, match=r"TICKWIRE_METRICS_ALLOW='prometheus\.local'"):
        networks(["10.0.0.0/8", "prometheus.local"])


def test_a_token_matches_only_as_a_bearer_credential():
    assert token_matches("Bearer abc123", "abc123")
    assert token_matches("bearer  abc123 ", "abc123")
    assert not token_matches("Bearer abc1234", "abc123")
    assert not token_matches("Basic abc123", "abc123")
    assert not token_matches(None, "abc123")
    assert not token_matches("Bearer ", "")
