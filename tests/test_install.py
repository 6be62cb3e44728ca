"""Operating Tickwire from a wheel installed into a fresh virtualenv outside the checkout:
``tickwire manage``, ``tickwire serve`` and ``tickwire feed`` with their data in
``TICKWIRE_HOME``, and nothing written inside the installed package."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.servers import ROOT, free_port

pytestmark = pytest.mark.e2e


def run(*args, timeout=300, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kw)  # fmt: skip


def snapshot(tree: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``tree`` with its size and mtime, bytecode caches left out: an
    interpreter may cache compiled modules anywhere it can write, which is not data."""
    return {
        str(p.relative_to(tree)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in tree.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A wheel built from a copy of the package, installed with the server and redis extras
    (pinned by constraints.txt) into a virtualenv in a temporary directory."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "tickwire", src / "tickwire",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    built = run(sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", tmp / "dist", src)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    # setuptools' "project.license as a TOML table is deprecated" box is gone.
    assert "deprecated" not in (built.stdout + built.stderr).lower()
    (wheel,) = (tmp / "dist").glob("tickwire-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv).check_returncode()
    python = venv / "bin" / "python"
    # The scaled-out server: the server extra and the redis one (SQLite needs no other).
    # Away from the checkout's PYTHONPATH: an editable install's tickwire.egg-info there
    # would read as tickwire already installed, and pip would skip the wheel.
    done = run(sys.executable, "-m", "pip", "--python", python, "install", "-q",
               "-c", ROOT / "constraints.txt", f"tickwire[server,redis] @ {wheel.as_uri()}",
               cwd=tmp, env=environ(tmp))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = run(python, "-c", "import tickwire; print(tickwire.__file__)", cwd=tmp,
                env=environ(tmp))  # fmt: skip
    site = Path(found.stdout.strip()).parent.parent
    assert site.is_relative_to(venv), site
    return venv, site


def environ(home: Path, **extra: str) -> dict[str, str]:
    """A user's shell: no checkout on the path, no settings module chosen, no address
    (`make test` exports HOST and PORT, which would win over the home's .env)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TICKWIRE_", "DJANGO_", "DATABASE_", "REALTIME_", "PYTHON"))
        and k not in ("HOST", "PORT")
    }
    return {**env, "TICKWIRE_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_healthy(url: str, procs: list[subprocess.Popen], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        for proc in procs:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else proc.args
        try:
            status, body = get(url)
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not healthy in {timeout}s: {body}")


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.stdout.read() if proc.stdout else ""


def test_an_installed_wheel_manages_serves_and_feeds_from_its_home(
    installed, tmp_path, redis_server
):
    venv, site = installed
    tickwire = venv / "bin" / "tickwire"
    home = tmp_path / "home"  # not there yet: the commands create it
    port = free_port()
    before = snapshot(site)

    # TICKWIRE_HOME/.env is read: here it says where to listen and which broker to use.
    home.mkdir()
    (home / ".env").write_text(f"PORT={port}\nTICKWIRE_BROKER_URL={redis_server.url}\n"
                               "REALTIME_UPDATE_INTERVAL=0.1\n")  # fmt: skip
    env = environ(home, TICKWIRE_REDIS_PREFIX=f"install{port}")
    for args in (["migrate", "-v0"], ["load_demo_data"], ["collectstatic", "--noinput", "-v0"]):
        done = run(tickwire, "manage", *args, env=env, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, (args, done.stderr[-3000:])
    assert (home / "db.sqlite3").is_file()
    assert (home / "staticfiles" / "tickwire" / "tickwire-client.js").is_file()

    procs = []
    try:
        for command in ("serve", "feed"):
            procs.append(subprocess.Popen(
                [str(tickwire), command], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, start_new_session=True))  # fmt: skip
        # Healthy only once the feed process's heartbeat arrives through Redis.
        body = wait_healthy(f"http://127.0.0.1:{port}/realtime/health/", procs)
        assert body["price_feed_running"] is True and body["database"] == "ok"
        streamed = run(tickwire, "stream", "AAPL", "--count", "1", "--url",
                       f"ws://127.0.0.1:{port}/ws/realtime/", env=env, timeout=60)  # fmt: skip
        assert streamed.returncode == 0, streamed.stderr
        assert json.loads(streamed.stdout)["data"]["symbol"] == "AAPL"
    finally:
        outputs = [stop(proc) for proc in procs]
    serve_output, feed_output = outputs
    assert "tickwire manage createsuperuser" in serve_output and "manage.py" not in serve_output
    assert str(home) in serve_output, serve_output
    assert "price feed running" in feed_output, feed_output

    assert snapshot(site) == before  # nothing written inside the installed package
    for name in ("db.sqlite3", ".env", "staticfiles"):
        assert not (site / name).exists() and not list((site / "tickwire").rglob(name)), name
