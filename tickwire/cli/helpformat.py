"""Coloured ``--help`` and usage errors (rich-argparse) for the command and every
subcommand, with argparse's own wording: the headings stay as written ("usage:",
"options:", "connection"), so help reads the same in colour, piped or with ``NO_COLOR``.

rich-argparse colours only a terminal; piped output and ``NO_COLOR`` get plain text, and
``FORCE_COLOR`` colours a pipe too.
"""

from __future__ import annotations

import argparse

from rich_argparse import (
    ArgumentDefaultsRichHelpFormatter,
    MetavarTypeRichHelpFormatter,
    RawDescriptionRichHelpFormatter,
    RawTextRichHelpFormatter,
    RichHelpFormatter,
)

__all__ = ["colour"]


def _as_written(heading: str) -> str:
    return heading


class _Plain(RichHelpFormatter):
    group_name_formatter = _as_written


class _RawDescription(RawDescriptionRichHelpFormatter):
    group_name_formatter = _as_written


class _RawText(RawTextRichHelpFormatter):
    group_name_formatter = _as_written


class _Defaults(ArgumentDefaultsRichHelpFormatter):
    group_name_formatter = _as_written


class _MetavarType(MetavarTypeRichHelpFormatter):
    group_name_formatter = _as_written


# Most specific first: RawTextHelpFormatter is a RawDescriptionHelpFormatter.
_RICH: tuple[tuple[type[argparse.HelpFormatter], type[RichHelpFormatter]], ...] = (
    (argparse.RawTextHelpFormatter, _RawText),
    (argparse.RawDescriptionHelpFormatter, _RawDescription),
    (argparse.ArgumentDefaultsHelpFormatter, _Defaults),
    (argparse.MetavarTypeHelpFormatter, _MetavarType),
    (argparse.HelpFormatter, _Plain),
)


def colour(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and its subcommands, at any depth, the rich formatter matching the
    argparse formatter each was built with (raw descriptions stay raw)."""
    formatter = parser.formatter_class
    if isinstance(formatter, type) and not issubclass(formatter, RichHelpFormatter):
        for plain, rich in _RICH:
            if issubclass(formatter, plain):
                parser.formatter_class = rich
                break
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases: once each
                colour(sub)
