"""Settings: typed readers, .env, and a wrong value stopping the process with its name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT
from tickwire import env as env_module
from tickwire.env import (
    SettingError,
    env_bool,
    env_float,
    env_int,
    env_list,
    load_dotenv,
    tickwire_home,
)


def test_readers_parse_and_validate():
    env = {"A": "5", "B": "0.25", "C": "yes", "D": "a, b,,c", "E": "nope"}
    assert env_int("A", 1, environ=env) == 5
    assert env_int("MISSING", 7, environ=env) == 7
    assert env_float("B", 1.0, environ=env) == 0.25
    assert env_bool("C", False, environ=env) is True
    assert env_list("D", [], environ=env) == ["a", "b", "c"]
    with pytest.raises(SettingError, match=r"E=.nope.*true/false"):
        env_bool("E", False, environ=env)
    with pytest.raises(SettingError, match="A='5' is invalid: expected an integer >= 10"):
        env_int("A", 1, minimum=10, environ=env)
    for bad in ("nan", "inf", "1e", ""):
        with pytest.raises(SettingError):
            env_float("X", 1.0, environ={"X": bad})


def test_dotenv_sets_missing_variables_only(tmp_path):
    f = tmp_path / ".env"
    f.write_text('# comment\nexport A=1\nB="two words"\nC=3 # trailing\n\nD=already\n')
    env = {"D": "kept"}
    load_dotenv(f, env)
    assert env == {"A": "1", "B": "two words", "C": "3", "D": "kept"}
    f.write_text("this is not a setting\n")
    with pytest.raises(SettingError, match=r"\.env:1"):
        load_dotenv(f, {})
    load_dotenv(tmp_path / "absent", {})  # a missing file is fine


def run(args, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tickwire.settings.local", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("REALTIME_UPDATE_INTERVAL", "soon"),
        ("REALTIME_UPDATE_INTERVAL", "0"),
        ("MAX_CONNECTIONS_PER_USER", "-1"),
        ("WEBSOCKET_TIMEOUT", "five minutes"),
        ("TICKWIRE_BROKER_URL", "kafka://x"),
        ("DATABASE_URL", "mysql://x/y"),
        ("DEBUG", "maybe"),
        ("TICKWIRE_ALLOWED_ORIGINS", "app.example.com"),
        ("TICKWIRE_ALLOWED_ORIGINS", "https://app.example.com/path"),
        ("TICKWIRE_SEND_BUFFER_BYTES", "1"),
        ("TICKWIRE_RECEIVE_QUEUE_LIMIT", "many"),
    ],
)
def test_a_wrong_setting_stops_the_server_with_its_name(name, value):
    result = run(["-m", "tickwire.serve", "--no-setup", "--port", "1"], **{name: value})
    assert result.returncode == 2
    assert name in result.stderr and "Traceback" not in result.stderr


def test_manage_py_reports_a_wrong_setting_without_traceback():
    result = run(["manage.py", "check"], REALTIME_BATCH_SIZE="many")
    assert result.returncode == 2
    assert "REALTIME_BATCH_SIZE='many' is invalid" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_requires_a_real_secret_key():
    result = run(
        ["manage.py", "check"],
        DJANGO_SETTINGS_MODULE="tickwire.settings.production",
        SECRET_KEY="short",
    )
    assert result.returncode == 2 and "SECRET_KEY" in result.stderr


def test_serve_rejects_a_bad_port():
    result = run(["-m", "tickwire.serve", "--port", "99999"])
    assert result.returncode == 2 and "out of range" in result.stderr


def test_home_is_the_variable_else_the_checkout(tmp_path):
    assert tickwire_home({"TICKWIRE_HOME": str(tmp_path)}) == tmp_path
    assert tickwire_home({"TICKWIRE_HOME": "~/tw"}) == Path("~/tw").expanduser()
    # Imported from this checkout: its database and .env sit beside manage.py, as always.
    assert tickwire_home({}) == ROOT


def test_an_installed_package_keeps_its_data_in_the_users_data_directory(monkeypatch, tmp_path):
    site = tmp_path / "site-packages" / "tickwire"
    site.mkdir(parents=True)
    monkeypatch.setattr(env_module, "PACKAGE_DIR", site)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert tickwire_home({}) == tmp_path / "data" / "tickwire"


def test_the_homes_env_file_may_choose_the_settings_module(tmp_path):
    (tmp_path / ".env").write_text(
        "DJANGO_SETTINGS_MODULE=tickwire.settings.production\nSECRET_KEY=short\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "TICKWIRE_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_a_home_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run(["manage.py", "check"], TICKWIRE_HOME=str(blocker / "home"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"TICKWIRE_HOME='{blocker / 'home'}'" in result.stderr


@pytest.mark.parametrize(
    "dotenv, expected",
    [
        ("this is not a setting\n", "setting .env:1='this is not a setting' is invalid"),
        ("DJANGO_SETTINGS_MODULE=tickwire.settings.nope\n", "tickwire.settings.nope' cannot be"),
    ],
)
def test_a_wrong_env_file_in_the_home_stops_serve_in_one_line(tmp_path, dotenv, expected):
    (tmp_path / ".env").write_text(dotenv)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "tickwire.serve", "--port", "1"],
        cwd=ROOT,
        env={**env, "TICKWIRE_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()] and expected in result.stderr
