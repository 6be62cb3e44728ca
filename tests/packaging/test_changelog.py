"""CHANGELOG.md: Keep a Changelog's layout, its newest release is the package's version
(written once, in tickwire/__init__.py), and each release states the protocol version."""

from __future__ import annotations

import re
import tomllib
from datetime import date

from tests.servers import ROOT
from tickwire import __version__
from tickwire.stream.protocol import PROTOCOL_VERSION

CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.MULTILINE)


def releases() -> list[tuple[str, str, str]]:
    """(version, date, body) per release, newest first, as written."""
    found = list(RELEASE.finditer(CHANGELOG))
    ends = [m.start() for m in found[1:]] + [len(CHANGELOG)]
    return [(m[1], m[2], CHANGELOG[m.end() : end]) for m, end in zip(found, ends, strict=True)]


def test_the_newest_release_is_the_package_version():
    assert releases(), "no release headings (## [x.y.z] - YYYY-MM-DD)"
    assert releases()[0][0] == __version__


def test_unreleased_comes_first_then_releases_newest_first_with_real_dates():
    assert CHANGELOG.index("## [Unreleased]") < RELEASE.search(CHANGELOG).start()
    versions = [tuple(map(int, v.split("."))) for v, _, _ in releases()]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    dates = [date.fromisoformat(d) for _, d, _ in releases()]
    assert dates == sorted(dates, reverse=True)


def test_each_release_states_its_protocol_version():
    for version, _, body in releases():
        stated = re.search(r"^Protocol version: (\d+)", body, re.MULTILINE)
        assert stated, f"{version} does not state its protocol version"
    assert int(re.search(r"^Protocol version: (\d+)", releases()[0][2], re.MULTILINE)[1]) == (
        PROTOCOL_VERSION
    )


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tickwire.__version__"}
