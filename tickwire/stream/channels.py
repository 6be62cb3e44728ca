"""Channel names: built and taken apart here, nowhere else.

``asset.<SYMBOL>`` and ``portfolio.<id>`` carry seq-numbered updates; ``user.<id>`` carries
messages for every connection of a user; other prefixes (``control.…``) are internal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALERTS_CONTROL_CHANNEL",
    "ASSET_CHANNEL_PREFIX",
    "PORTFOLIO_CHANNEL_PREFIX",
    "USER_CHANNEL_PREFIX",
    "ChannelName",
    "asset_channel",
    "channel_portfolio_id",
    "channel_symbol",
    "is_stream_channel",
    "parse_channel",
    "portfolio_channel",
    "portfolio_control_channel",
    "user_channel",
    "user_control_channel",
]

ASSET_CHANNEL_PREFIX: Final = "asset."
PORTFOLIO_CHANNEL_PREFIX: Final = "portfolio."
USER_CHANNEL_PREFIX: Final = "user."


def asset_channel(symbol: str) -> str:
    """The channel of an asset's updates: ``asset.<SYMBOL>``."""
    return ASSET_CHANNEL_PREFIX + symbol


def portfolio_channel(portfolio_id: int) -> str:
    """The channel of a portfolio's updates: ``portfolio.<id>``."""
    return f"{PORTFOLIO_CHANNEL_PREFIX}{portfolio_id}"


def portfolio_control_channel(portfolio_id: int) -> str:
    """The internal channel on which a portfolio's position changes reach every node."""
    return f"control.{PORTFOLIO_CHANNEL_PREFIX}{portfolio_id}"


def user_control_channel(user_id: int) -> str:
    """The internal channel on which a user's logouts and revocations reach every node."""
    return f"control.{USER_CHANNEL_PREFIX}{user_id}"


#: The internal channel on which alert rule changes reach the alert evaluator.
ALERTS_CONTROL_CHANNEL: Final = "control.alerts"


def user_channel(user_id: int) -> str:
    """The channel of messages for every connection of a user: ``user.<id>``."""
    return f"{USER_CHANNEL_PREFIX}{user_id}"


@dataclass(frozen=True, slots=True)
class ChannelName:
    """A channel name taken apart by :func:`parse_channel`."""

    name: str
    #: ``asset``, ``portfolio``, ``user`` — or another prefix (control channels).
    kind: str
    #: What follows the first dot.
    key: str

    @property
    def symbol(self) -> str | None:
        """The symbol of an asset channel, else None."""
        return self.key if self.kind == "asset" and self.key else None

    @property
    def portfolio_id(self) -> int | None:
        """The id of a portfolio channel, else None."""
        return _decimal_id(self.key) if self.kind == "portfolio" else None

    @property
    def user_id(self) -> int | None:
        """The id of a user channel, else None."""
        return _decimal_id(self.key) if self.kind == "user" else None


def _decimal_id(key: str) -> int | None:
    # ASCII digits only: str.isdigit() accepts "²", which int() refuses.
    if key.isascii() and key.isdigit():
        return int(key)
    return None


def parse_channel(name: str) -> ChannelName:
    """Take a channel name apart: the inverse of :func:`asset_channel`,
    :func:`portfolio_channel` and :func:`user_channel`."""
    kind, _, key = name.partition(".")
    return ChannelName(name, kind, key)


def channel_symbol(channel: str) -> str | None:
    """The symbol of an asset channel, or None for other channels."""
    return parse_channel(channel).symbol


def channel_portfolio_id(channel: str) -> int | None:
    """The portfolio id of a portfolio channel, or None for other channels."""
    return parse_channel(channel).portfolio_id


def is_stream_channel(channel: str) -> bool:
    """True for the channels that carry seq-numbered updates (assets and portfolios)."""
    return channel.startswith((ASSET_CHANNEL_PREFIX, PORTFOLIO_CHANNEL_PREFIX))
