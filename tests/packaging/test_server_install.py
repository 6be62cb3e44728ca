"""``pip install 'tickwire[server]'`` into a fresh virtualenv: the embedded server starts and
serves without redis-py or psycopg (SQLite, memory broker); a Redis broker URL or a
postgres:// database without its extra is one line naming the extra."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from tests.packaging.venvs import environ, importable, installed, make_venv, run
from tests.servers import free_port, wait_until
from tickwire import __version__

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server_venv(wheel, tmp_path_factory):
    return make_venv(tmp_path_factory.mktemp("server") / "venv", wheel, extras="server")


def test_the_server_extra_brings_the_server_but_not_redis_or_postgres(server_venv, tmp_path):
    names = installed(server_venv, tmp_path)
    assert {"tickwire", "django", "channels", "uvicorn"} <= names
    assert "redis" not in names and "psycopg" not in names
    assert importable(server_venv, "django", tmp_path)
    assert not importable(server_venv, "redis", tmp_path)


def test_version_and_serve_help(server_venv, tmp_path):
    env = environ(tmp_path)
    done = run(server_venv / "bin" / "tickwire", "--version", cwd=tmp_path, env=env)
    assert done.stdout.strip() == f"tickwire {__version__} (protocol 1)"
    done = run(server_venv / "bin" / "python", "-m", "tickwire.serve", "--help", cwd=tmp_path,
               env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "usage: tickwire serve" in done.stdout and "--port" in done.stdout


def test_the_embedded_server_starts_and_streams(server_venv, tmp_path):
    port = free_port()
    env = environ(tmp_path / "home", REALTIME_UPDATE_INTERVAL="0.1")
    proc = subprocess.Popen(
        [str(server_venv / "bin" / "tickwire"), "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:

        def healthy() -> dict | None:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/realtime/health/", timeout=2
                ) as r:
                    return json.loads(r.read()) if r.status == 200 else None
            except OSError:
                return None

        body = wait_until(healthy, timeout=90, what="the installed server answering healthy")
        assert body["database"] == "ok" and body["price_feed_running"] is True
        done = run(server_venv / "bin" / "tickwire", "stream", "BTC-USD", "--count", "1",
                   "--url", f"ws://127.0.0.1:{port}/ws/realtime/", cwd=tmp_path, env=env,
                   timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["data"]["symbol"] == "BTC-USD"
    finally:
        if proc.poll() is None:
            proc.terminate()  # the pid we started; its session holds no other process
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.mark.parametrize(
    ("argv", "setting", "extra"),
    [
        (["serve"], {"TICKWIRE_BROKER_URL": "redis://127.0.0.1:1/0"}, "redis"),
        (["feed"], {"TICKWIRE_BROKER_URL": "redis://127.0.0.1:1/0"}, "redis"),
        (["manage", "migrate"], {"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db"}, "postgres"),
    ],
)
def test_a_setting_that_needs_another_extra_names_it(server_venv, tmp_path, argv, setting, extra):
    done = run(server_venv / "bin" / "tickwire", *argv, cwd=tmp_path,
               env=environ(tmp_path, **setting), timeout=60)  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert f"needs the {extra} extra" in line
    assert line.endswith(f"pip install 'tickwire[{extra}]'")
    assert "p@127" not in line  # a database URL's password is not echoed
