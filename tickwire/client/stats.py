"""Rolling statistics for the client library: the streaming core's :mod:`tickwire.stream.stats`.

The same windows feed the alert engine (:mod:`tickwire.stream.alerts`), so the client and the
rule engine compute one set of statistics. The names are re-exported here so that
``from tickwire.client.stats import RollingWindow`` keeps working.
"""

from tickwire.stream.stats import RollingStats, RollingWindow, WindowStats

__all__ = ["RollingStats", "RollingWindow", "WindowStats"]
