"""The ``tickwire`` command's parser: usage errors and the command list."""

import os
import subprocess
import sys

import pytest

from tests.cli.helpers import SCRIPT, tickwire
from tests.servers import ROOT
from tickwire.cli import main

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "COMMAND"),
        (["watch"], "SYMBOL"),
        (["stream", "bad sym!"], "not a valid symbol"),
        (["stream", "AAPL", "--url", "http://example.org/"], "not a WebSocket URL"),
        (["watch", "AAPL", "--window", "0"], "greater than 0"),
        (["alert", "AAPL"], "needs --above, --below or --cross"),
        (["alert", "AAPL", "--above", "1", "--below", "2"], "--below must not be greater"),
        (["alert", "AAPL", "--cross", "1", "--above", "2"], "cannot be combined"),
        (["alert", "AAPL", "--above", "nan"], "not a finite number"),
        (["alert", "AAPL", "--above", "1", "--webhook", "ftp://x"], "http:// or https://"),
        (["record", "AAPL"], "--out"),
        (["record", "AAPL", "--out", "ticks.xlsx"], ".parquet or .csv"),
        (["stream", "AAPL", "--retries", "-1"], "0 or more"),
        (["stream", "AAPL", "--raw", "--subscribe", "[1]"], "template must be a JSON object"),
    ],
)
def test_bad_arguments_get_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: tickwire" in err and message in err


def test_help_lists_every_command():
    out = tickwire("--help").stdout
    for command in ("watch", "stream", "record", "alert", "alerts", "serve"):
        assert command in out


def test_python_m_tickwire_cli_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "tickwire.cli", "stream", "--help"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0 and "usage: tickwire stream" in done.stdout


def test_version_names_the_package_and_the_protocol():
    from tickwire import __version__
    from tickwire.stream.protocol import PROTOCOL_VERSION

    done = tickwire("--version")
    assert done.returncode == 0
    assert done.stdout == f"tickwire {__version__} (protocol {PROTOCOL_VERSION})\n"


def complete(line: str, tmp_path) -> list[str]:
    """What the shell would offer at the end of ``line``: argcomplete's protocol, as the
    bash and zsh hooks of `register-python-argcomplete tickwire` drive it."""
    out = tmp_path / "completions"
    done = tickwire(env={**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n",
                         "COMP_LINE": line, "COMP_POINT": str(len(line)),
                         "_ARGCOMPLETE_STDOUT_FILENAME": str(out)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out.read_text().split("\n")


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("tickwire ", {"watch", "stream", "record", "alert", "alerts", "serve", "feed", "manage",
                       "--version", "--help"}),
        ("tickwire st", {"stream"}),
        ("tickwire stream AAPL --re", {"--retries"}),
        ("tickwire record AAPL --", {"--out", "--url", "--token", "--duration", "--force"}),
        ("tickwire alerts ", {"list", "add", "remove", "events", "watch", "settings"}),
    ],
)  # fmt: skip
def test_tab_completion_offers_commands_and_options(line, offered, tmp_path):
    candidates = {c.strip() for c in complete(line, tmp_path)}
    assert offered <= candidates, candidates
    if line.endswith(("st", "--re")):
        assert candidates == offered


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_documented_completion_hook_registers_tickwire(shell):
    register = SCRIPT.with_name("register-python-argcomplete")
    done = subprocess.run([str(register), "--shell", shell, "tickwire"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "tickwire" in done.stdout and "_ARGCOMPLETE" in done.stdout


def test_server_commands_without_the_server_extra_name_it(monkeypatch, capsys):
    import tickwire.extras

    real = tickwire.extras.importlib.util.find_spec
    monkeypatch.setattr(tickwire.extras.importlib.util, "find_spec",
                        lambda name, *a: None if name == "django" else real(name, *a))  # fmt: skip
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err == ("tickwire: tickwire serve needs the server extra, which is not installed "
                   "(no module named 'django'): pip install 'tickwire[server]'\n")  # fmt: skip
