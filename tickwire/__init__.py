"""Tickwire: a real-time market-data and live-portfolio server."""

__version__ = "0.1.0"
