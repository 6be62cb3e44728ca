"""Reconnect delays: exponential backoff with jitter (the streaming core's policy)."""

from __future__ import annotations

from tickwire.stream.backoff import Backoff

__all__ = ["Backoff"]
