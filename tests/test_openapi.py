"""The OpenAPI schema covers every endpoint: drf-spectacular generates it without a
warning or an error (a view it cannot describe would be left out of /api/schema/)."""

from __future__ import annotations

from django.core.management import call_command


def test_the_schema_generates_without_warnings_and_lists_every_api(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/portfolios/",
        "/api/assets/",
        "/api/alerts/",
        "/api/alerts/events/",
        "/api/alerts/settings/",
        "/api/realtime/force_price_update/",
    ):
        assert f"  {path}:" in text, path
