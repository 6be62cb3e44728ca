"""The vendored charting library is the file its README says it is, with its licence."""

from __future__ import annotations

import hashlib
import re

from tests.servers import ROOT

VENDOR = ROOT / "tickwire" / "static" / "tickwire" / "vendor" / "lightweight-charts"
BUILD = VENDOR / "lightweight-charts.standalone.production.mjs"


def readme() -> str:
    return (VENDOR / "README.md").read_text()


def test_the_file_is_the_version_and_digest_the_readme_records() -> None:
    version = re.search(r"\| version \| \*\*([\d.]+)\*\* \|", readme())
    digest = re.search(r"\| sha256 of the file \| `([0-9a-f]{64})` \|", readme())
    assert version and digest, "README.md must record the version and the file's sha256"
    body = BUILD.read_bytes()
    assert hashlib.sha256(body).hexdigest() == digest.group(1)
    # The build states its own version in its licence banner.
    assert f"TradingView Lightweight Charts™ v{version.group(1)}".encode() in body[:300]


def test_the_licence_and_notice_ship_beside_it() -> None:
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    assert "TradingView, Inc." in (VENDOR / "NOTICE").read_text()


def test_the_charts_load_it_from_this_server_only() -> None:
    static = ROOT / "tickwire" / "static" / "tickwire"
    for name in ("chart.js", "portfolio-chart.js"):
        imports = re.findall(r'from "([^"]+)"', (static / name).read_text())
        vendored = "./vendor/lightweight-charts/lightweight-charts.standalone.production.mjs"
        assert vendored in imports, (name, imports)
        assert all(i.startswith("./") for i in imports), (name, imports)  # no CDN
