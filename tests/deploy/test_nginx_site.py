"""deploy/nginx/tickwire.conf as shipped: `nginx -t` accepts it unchanged inside an http
block (the end-to-end tests run it with their own addresses: tests/infra.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "tickwire.conf"

MAIN = """
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    include {site};
}}
"""


def nginx_t(tmp_path: Path, site: Path) -> subprocess.CompletedProcess[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is missing: run scripts/install-system-deps.sh"
    conf = tmp_path / "nginx.conf"
    conf.write_text(MAIN.format(prefix=tmp_path, site=site))
    return subprocess.run(
        [nginx, "-t", "-c", str(conf), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nginx_accepts_the_shipped_site_unchanged(tmp_path):
    done = nginx_t(tmp_path, SITE)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_nginx_t_would_reject_a_broken_site(tmp_path):
    broken = tmp_path / "site.conf"
    broken.write_text(SITE.read_text().replace("proxy_pass http://tickwire;", "proxy_pass;", 1))
    assert nginx_t(tmp_path, broken).returncode != 0


def test_the_websocket_block_upgrades_and_keeps_quiet_sockets_open():
    text = SITE.read_text()
    block = text[text.index("location /ws/ {") :]
    block = block[: block.index("}")]
    for line in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $tickwire_connection;",
        "proxy_read_timeout 86400s;",
        "proxy_buffering off;",
    ):
        assert line in block, line
    assert "location /static/ {" in text and "location = /metrics {" in text
