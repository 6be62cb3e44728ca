"""Who may read ``/metrics``: addresses in ``TICKWIRE_METRICS_ALLOW`` or a bearer token.

Framework-free on purpose: the realtime app checks the allowlist when Django starts (a
wrong entry stops the process with a message naming the variable), the view at each scrape.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from tickwire.env import SettingError

__all__ = ["Network", "address_allowed", "networks", "token_matches"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Iterable[str], name: str = "TICKWIRE_METRICS_ALLOW") -> list[Network]:
    """Addresses and networks (``10.0.0.0/8``, ``127.0.0.1``, ``::1``) as networks.

    Raises SettingError naming ``name`` for an entry that is neither.
    """
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise SettingError(name, value, "IP addresses or networks, comma-separated") from None
    return out


def address_allowed(address: str | None, allowed: Iterable[Network]) -> bool:
    """Whether the client ``address`` lies in one of ``allowed``."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in allowed)


def token_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization: Bearer <token>`` header carries ``token`` (never when
    no token is configured). Compared in constant time."""
    if not token or not authorization:
        return False
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())
