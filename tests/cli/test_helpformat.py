"""Help as a user reads it: coloured on a terminal (rich-argparse), plain text when piped or
with NO_COLOR, the same words either way, for the command and its subcommands."""

import os
import re

import pytest

from tests.cli.helpers import tickwire

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def help_text(*args: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TERM")}
    done = tickwire(*args, "--help", env={**base, "COLUMNS": "100", **env})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("args", [(), ("watch",), ("record",), ("alerts",), ("alerts", "add")])
def test_help_is_coloured_on_a_terminal_and_says_the_same_as_plain(args):
    plain = help_text(*args)
    coloured = help_text(*args, FORCE_COLOR="1")
    assert not ANSI.search(plain)
    assert ANSI.search(coloured), "no colour with FORCE_COLOR"
    assert ANSI.sub("", coloured).split() == plain.split()
    assert plain.startswith("usage: tickwire")


def colours(text: str) -> list[str]:
    """The colour parameters (30-38, 90-97: foreground) in ``text``'s escape sequences;
    bold and italic are not colours."""
    params = [p for seq in ANSI.findall(text) for p in seq[2:-1].split(";")]
    return [p for p in params if p.isdigit() and (30 <= int(p) <= 38 or 90 <= int(p) <= 97)]


def test_no_color_wins_over_a_terminal():
    assert colours(help_text("stream", FORCE_COLOR="1"))
    assert not colours(help_text("stream", FORCE_COLOR="1", NO_COLOR="1"))


def test_the_examples_keep_their_lines():
    out = help_text()
    assert "\n  tickwire watch AAPL MSFT\n" in out
    assert "\n  tickwire alerts add AAPL above 200 --cooldown 300\n" in out
    assert "--version" in out and "options:" in out


def test_a_usage_error_is_plain_when_piped():
    done = tickwire("stream")
    assert done.returncode == 2
    assert not ANSI.search(done.stderr)
    assert done.stderr.startswith("usage: tickwire stream")
