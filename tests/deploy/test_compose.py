"""compose.yaml: valid against the compose-spec schema, and the deployment it describes
(nginx, two nodes, the feed, Redis, PostgreSQL, health checks, a one-shot migrate)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_valid_against_the_compose_spec_schema():
    done = check_jsonschema(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_wrong_key(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text(
        COMPOSE.read_text().replace("    restart: unless-stopped\n", "    restar: x\n", 1)
    )
    done = check_jsonschema(bad)
    assert done.returncode != 0 and "restar" in done.stdout


def test_every_part_of_the_deployment_is_there_with_a_health_check():
    svc = services()
    assert {"nginx", "node1", "node2", "feed", "redis", "postgres", "migrate"} <= set(svc)
    for name in ("nginx", "node1", "node2", "feed", "redis", "postgres"):
        assert svc[name]["healthcheck"]["test"], name
    for node in ("node1", "node2"):
        assert svc[node]["command"][:2] == ["tickwire", "serve"]
        assert "/realtime/ready/" in " ".join(svc[node]["healthcheck"]["test"])
        assert svc[node]["environment"]["TICKWIRE_BROKER_URL"].startswith("redis://redis:")
    assert svc["feed"]["command"] == ["tickwire", "feed"]


def test_migrate_runs_once_before_the_nodes_and_the_feed():
    svc = services()
    assert svc["migrate"]["restart"] == "no"
    assert "tickwire manage migrate" in " ".join(svc["migrate"]["command"])
    for name in ("node1", "node2", "feed"):
        assert svc[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_nginx_runs_the_shipped_site_pointed_at_the_node_containers():
    nginx = services()["nginx"]
    assert "./deploy/nginx/tickwire.conf:/etc/tickwire/nginx.conf:ro" in nginx["volumes"]
    script = " ".join(nginx["command"])
    site = (ROOT / "deploy" / "nginx" / "tickwire.conf").read_text()
    rewrites = re.findall(r"s/([0-9.]+:\d+)/(\w+):8000/", script)
    assert sorted(node for _, node in rewrites) == ["node1", "node2"]
    for address, _ in rewrites:
        assert f"server {address} " in site, f"the site has no upstream line for {address}"
