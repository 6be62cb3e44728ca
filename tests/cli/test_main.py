"""The ``tickwire`` command's parser: usage errors and the command list."""

import subprocess
import sys

import pytest

from tests.cli.helpers import tickwire
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
