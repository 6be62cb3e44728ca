"""What the commands print besides their data: the library's warnings, tidied messages."""

import logging

import pytest

from tickwire.cli.output import LibraryWarnings, status_line, tidy
from tickwire.client import ConnectionStatus


@pytest.fixture
def library_log():
    logger = logging.getLogger("tickwire.client.test_output")
    handler = LibraryWarnings()
    logger.addHandler(handler)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)


def test_library_warnings_without_an_event_are_printed(library_log, capsys):
    library_log.warning("skipped a frame that is not JSON: %.80r", "not json")
    library_log.warning("no message from the server for %.0f s; reconnecting", 45.0)
    assert capsys.readouterr().err.splitlines() == [
        "tickwire: skipped a frame that is not JSON: 'not json'",
        "tickwire: no message from the server for 45 s; reconnecting",
    ]


def test_library_warnings_the_commands_report_from_events_are_not_repeated(library_log, capsys):
    library_log.warning("disconnected from %s: %s; retrying in %.1f s (attempt %d)",
                        "ws://x/", "the connection was lost", 0.5, 1)  # fmt: skip
    library_log.warning("%s: updates after seq %d could not be recovered: %s", "AAPL", 7, "gone")
    library_log.error("tickwire client stopped: %s", "refused")  # raised, printed by main()
    assert capsys.readouterr().err == ""


def test_muting_silences_every_warning_while_a_live_display_runs(library_log, capsys):
    with LibraryWarnings.muting():
        library_log.warning("skipped a malformed server message: %s", "bad")
    library_log.warning("skipped a malformed server message: %s", "worse")
    assert capsys.readouterr().err == "tickwire: skipped a malformed server message: worse\n"


def test_a_close_without_a_reason_has_no_stray_space():
    status = ConnectionStatus("disconnected", "ws://x/", reason="the server closed the "
                              "connection (1012 )", close_code=1012, attempt=2, retry_in=1.25)  # fmt: skip
    assert status_line(status) == (
        "disconnected from ws://x/: the server closed the connection (1012); "
        "retrying in 1.2 s (attempt 2)"
    )
    assert tidy("closed (4500 going)") == "closed (4500 going)"
