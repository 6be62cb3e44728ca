"""The former name of :mod:`tickwire.client.dataframes` (pandas helpers), which says what
it holds: the same functions, importable from here until every caller has moved."""

from .dataframes import read_recording, stats_frame, updates_frame, window_frame

__all__ = ["read_recording", "stats_frame", "updates_frame", "window_frame"]
