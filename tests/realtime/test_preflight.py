"""Start-up errors are one line naming what to change, exit status 2, no traceback — through
every way of starting Tickwire: ``make run``, ``tickwire serve``, ``tickwire feed`` and
``uvicorn tickwire.asgi:application``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import SCRIPT
from tests.servers import ROOT, free_port
from tickwire.realtime.preflight import redacted_url

pytestmark = pytest.mark.e2e

VENV = Path(sys.executable).parent.parent
SECRET = "s3cret-Password"
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "tickwire.settings.production",
    "SECRET_KEY": "production-key-" + "x" * 40,
}


def command(entry: str, port: int) -> list[str]:
    if entry == "make run":
        # The shared virtualenv as it is: -o keeps make from reinstalling into it.
        return ["make", "-s", "-C", str(ROOT), "run", f"VENV={VENV}",
                "-o", f"{VENV}/.run-stamp", f"PORT={port}"]  # fmt: skip
    if entry == "uvicorn":
        return [str(VENV / "bin" / "uvicorn"), "tickwire.asgi:application", "--port", str(port)]
    if entry == "tickwire feed":
        return [str(SCRIPT), "feed"]
    return [str(SCRIPT), "serve", "--port", str(port)]


def start(entry: str, home: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Start ``entry`` with its data in ``home`` and ``settings``; it should not start."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TICKWIRE_", "DJANGO_", "DATABASE_", "REALTIME_", "MAKE"))
    }
    # The checkout's code, whichever virtualenv runs it.
    env.update(PYTHONPATH=str(ROOT), TICKWIRE_HOME=str(home), **settings)
    return subprocess.run(command(entry, free_port()), cwd=home, env=env,
                          capture_output=True, text=True, timeout=90)  # fmt: skip


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    # make adds its own "make: *** [run] Error 2" below the command's line.
    return [line for line in result.stderr.splitlines() if not line.startswith("make")]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """A migrated SQLite database with the demo data, copied into each test's home."""
    home = tmp_path_factory.mktemp("migrated")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TICKWIRE_HOME": str(home)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    for args in (["migrate", "-v0"], ["load_demo_data", "-v0"]):
        subprocess.run([str(SCRIPT), "manage", *args], env=env, check=True, timeout=120)
    return home / "db.sqlite3"


@pytest.fixture
def home(tmp_path, migrated):
    shutil.copy(migrated, tmp_path / "db.sqlite3")
    return tmp_path


ENTRIES = ["make run", "tickwire serve", "tickwire feed", "uvicorn"]


def assert_one_line(result, *expected):
    lines = error_lines(result)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("tickwire"), lines
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_wrong_setting(entry, home):
    result = start(entry, home, REALTIME_BATCH_SIZE="many")
    assert_one_line(result, "REALTIME_BATCH_SIZE='many' is invalid", "an integer")


@pytest.mark.parametrize("entry", ENTRIES)
def test_an_unknown_data_source(entry, home):
    result = start(entry, home, TICKWIRE_FEED_SOURCE="nope")
    assert_one_line(result, "TICKWIRE_FEED_SOURCE='nope'", "simulator")


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_missing_finnhub_key(entry, home):
    result = start(entry, home, TICKWIRE_FEED_SOURCE="finnhub")
    assert_one_line(result, "finnhub source needs an API key", "TICKWIRE_FEED_API_KEY")


@pytest.mark.parametrize("entry", ENTRIES)
def test_an_unreachable_redis(entry, home):
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = start(entry, home, TICKWIRE_BROKER_URL=url)
    assert_one_line(result, "cannot reach Redis", url, "TICKWIRE_BROKER_URL")


@pytest.mark.parametrize("entry", ENTRIES)
def test_an_unreachable_postgresql(entry, home):
    url = f"postgres://tickwire:{SECRET}@127.0.0.1:{free_port()}/tickwire"
    result = start(entry, home, DATABASE_URL=url)
    assert_one_line(result, "DATABASE_URL=postgres://tickwire:***@127.0.0.1", "refused")
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("entry", ENTRIES)
def test_an_unmigrated_database_under_production_settings(entry, tmp_path):
    result = start(entry, tmp_path, **PRODUCTION)
    assert_one_line(result, "not migrated", "run `tickwire manage migrate`")


def test_the_feed_refuses_the_memory_broker_in_one_line(home):
    result = start("tickwire feed", home)
    assert_one_line(result, "TICKWIRE_BROKER_URL is memory://", "TICKWIRE_BROKER_URL=redis://")


def test_the_feed_refuses_a_database_without_assets(tmp_path, redis_server):
    env = {"PYTHONPATH": str(ROOT), "TICKWIRE_HOME": str(tmp_path)}
    subprocess.run([str(SCRIPT), "manage", "migrate", "-v0"], env={**os.environ, **env},
                   check=True, timeout=120)  # fmt: skip
    result = start("tickwire feed", tmp_path, TICKWIRE_BROKER_URL=redis_server.url)
    assert_one_line(result, "no active assets", "tickwire manage load_demo_data")


def test_manage_names_the_missing_migration_instead_of_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(PYTHONPATH=str(ROOT), TICKWIRE_HOME=str(tmp_path))
    result = subprocess.run([str(SCRIPT), "manage", "update_asset_prices"], env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "tickwire manage: the database has no table assets_asset: run `tickwire manage migrate`"
    ]


def test_make_run_installs_only_what_running_needs(tmp_path):
    venv = tmp_path / "venv"  # no stamp: make shows what it would install
    result = subprocess.run(["make", "-n", "-C", str(ROOT), "run", f"VENV={venv}"],
                            capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    installs = [line for line in result.stdout.splitlines() if "pip install" in line]
    assert any(line.endswith("-e '.[server]'") for line in installs), installs
    assert not any(word in line for line in installs for word in ("dev", "redis", "postgres"))


def test_passwords_are_hidden_in_urls():
    assert redacted_url("postgres://u:pw@h:5432/d") == "postgres://u:***@h:5432/d"
    assert redacted_url("redis://h:6379/0") == "redis://h:6379/0"
