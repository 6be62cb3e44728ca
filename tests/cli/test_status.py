"""The status of a long-running command where stderr is not a terminal: whole lines."""

import io

from tickwire.cli.status import PlainStatus, status_display


def test_a_log_gets_the_status_now_and_then_and_every_notice():
    now = [0.0]
    err = io.StringIO()
    status = PlainStatus(err, every=10.0, clock=lambda: now[0])
    status.show(["recording: 0 rows", ""])
    now[0] = 4.0
    status.show(["recording: 40 rows", "AAPL 40"])  # too soon: not written
    status.notice("disconnected from ws://x: lost; retrying in 0.5 s (attempt 1)")
    now[0] = 10.5
    status.show(["recording: 100 rows", "AAPL 100"])
    status.close()
    assert err.getvalue().splitlines() == [
        "tickwire: recording: 0 rows",
        "tickwire: disconnected from ws://x: lost; retrying in 0.5 s (attempt 1)",
        "tickwire: recording: 100 rows · AAPL 100",
    ]


def test_a_pipe_or_file_gets_plain_lines_not_a_live_display():
    assert isinstance(status_display(io.StringIO()), PlainStatus)
