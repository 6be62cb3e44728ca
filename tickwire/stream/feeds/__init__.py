"""Data sources and the feed service that turns their ticks into channel updates."""

from .base import Instrument, Source, Tick
from .service import FeedService, Quote
from .simulator import SimulatorSource

__all__ = ["FeedService", "Instrument", "Quote", "SimulatorSource", "Source", "Tick"]
