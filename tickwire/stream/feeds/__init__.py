"""Data sources and the feed service that turns their ticks into channel updates."""

from .bars import BarAggregator
from .base import (
    Bar,
    HistoryUnavailable,
    Instrument,
    MalformedMessage,
    Source,
    SourceConfigError,
    Tick,
)
from .registry import SOURCES, build_source
from .router import RoutedSource
from .routes import RouteConfigError, build_routed_source, parse_routes
from .service import CONTROL_CHANNEL, FeedService, Quote, control_message
from .simulator import SimulatorSource

__all__ = [
    "CONTROL_CHANNEL",
    "SOURCES",
    "Bar",
    "BarAggregator",
    "FeedService",
    "HistoryUnavailable",
    "Instrument",
    "MalformedMessage",
    "Quote",
    "RouteConfigError",
    "RoutedSource",
    "SimulatorSource",
    "Source",
    "SourceConfigError",
    "Tick",
    "build_routed_source",
    "build_source",
    "control_message",
    "parse_routes",
]
