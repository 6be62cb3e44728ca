"""``tickwire serve``: start the server, as ``python -m tickwire.serve`` does."""

from __future__ import annotations

from collections.abc import Sequence

from .args import Subparsers

__all__ = ["add_parser", "main"]


def add_parser(commands: Subparsers) -> None:
    # Listed for --help only: main() hands "serve ..." to tickwire.serve before parsing,
    # so its options and its own --help are those of python -m tickwire.serve.
    commands.add_parser(
        "serve",
        help="start the Tickwire server (what `make run` does)",
        description="Start the server; options are those of `python -m tickwire.serve` "
        "(--host, --port, --no-setup, --log-level).",
        add_help=False,
    )


def main(argv: Sequence[str]) -> int:
    from tickwire import serve  # Django and uvicorn: loaded only to serve

    return serve.main(list(argv))
