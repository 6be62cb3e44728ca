"""Coinbase Developer Platform (CDP) API keys and the short-lived JWTs signed with them.

Coinbase's Advanced Trade WebSocket authenticates a subscribe message by its ``jwt``: an
ES256 token signed with the user's CDP API key, valid for two minutes. So the source keeps
the key, not a token, and signs a fresh one for every connection with :func:`cdp_jwt`.

A CDP key has a name (``organizations/{org_id}/apiKeys/{key_id}``) and an EC P-256 private
key in PEM, which env files usually carry on one line with literal ``\\n``;
:func:`load_cdp_key` takes either form. Ed25519 CDP keys are not supported here: the
WebSocket documentation signs with ES256.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ..base import SourceConfigError

__all__ = ["CDP_JWT_LIFETIME", "CdpKey", "cdp_jwt", "load_cdp_key"]

#: Seconds a WebSocket JWT is valid; Coinbase accepts no longer.
CDP_JWT_LIFETIME = 120

_JWT_SHAPE = re.compile(r"^eyJ[\w-]*\.[\w-]+\.[\w-]*$")
_KEY_HELP = (
    "set api_key (TICKWIRE_FEED_API_KEY) to the CDP API key name "
    "organizations/{org_id}/apiKeys/{key_id} and api_secret (TICKWIRE_FEED_API_SECRET) "
    "or api_secret_file (TICKWIRE_FEED_API_SECRET_FILE) to its EC private key in PEM"
)


@dataclass(frozen=True, repr=False)
class CdpKey:
    """A CDP API key: its name and its EC P-256 private key. Its repr shows no secret."""

    name: str
    private_key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        return f"CdpKey({self.name!r})"


def load_cdp_key(
    name: str | None, secret: str | None = None, secret_file: str | None = None
) -> CdpKey | None:
    """The key from the coinbase options, or None when none is given (public channels).

    Raises SourceConfigError naming the option: a key name without a secret or the other
    way round, a ready-made JWT instead of a key name, an unreadable ``api_secret_file``,
    or a secret that is not an EC P-256 private key in PEM.
    """
    name = (name or "").strip() or None
    if secret and secret_file:
        raise SourceConfigError(
            "coinbase options api_secret and api_secret_file: give one, not both"
        )
    if secret_file:
        try:
            secret = Path(secret_file).expanduser().read_text()
        except OSError as exc:
            raise SourceConfigError(
                f"coinbase option api_secret_file (TICKWIRE_FEED_API_SECRET_FILE) = "
                f"{secret_file!r}: cannot read it ({exc.strerror or exc})"
            ) from None
    if name is None:
        if secret:
            raise SourceConfigError(
                f"coinbase option api_secret is set but api_key is not: {_KEY_HELP}"
            )
        return None
    if _JWT_SHAPE.match(name):
        raise SourceConfigError(
            "coinbase option api_key (TICKWIRE_FEED_API_KEY) holds a ready-made JWT, which "
            f"expires after two minutes; Tickwire signs a fresh one per connection: {_KEY_HELP}"
        )
    if any(c.isspace() for c in name):
        raise SourceConfigError(
            "coinbase option api_key (TICKWIRE_FEED_API_KEY) contains white space; "
            f"it must be the key name alone: {_KEY_HELP}"
        )
    if not secret or not secret.strip():
        raise SourceConfigError(f"coinbase option api_key needs its private key: {_KEY_HELP}")
    option = "api_secret_file" if secret_file else "api_secret"
    return CdpKey(name, _private_key(secret, option))


def _private_key(secret: str, option: str) -> ec.EllipticCurvePrivateKey:
    where = f"coinbase option {option} (TICKWIRE_FEED_{option.upper()})"
    # Env files carry the PEM on one line with literal \n; the real thing has newlines.
    pem = secret.strip().strip("\"'").replace("\\n", "\n").strip() + "\n"
    if "-----BEGIN" not in pem:
        raise SourceConfigError(
            f"{where} is not a PEM private key (-----BEGIN EC PRIVATE KEY----- ...); "
            "Tickwire needs an ECDSA (ES256) CDP key, not an Ed25519 one"
        )
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceConfigError(f"{where} is not a readable PEM private key: {reason}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        kind = key.curve.name if isinstance(key, ec.EllipticCurvePrivateKey) else type(key).__name__
        raise SourceConfigError(f"{where} must be an EC P-256 (ES256) private key, not {kind}")
    return key


def cdp_jwt(key: CdpKey, now: float | None = None) -> str:
    """A fresh WebSocket JWT for ``key``: ES256, header ``kid`` = the key name and a
    random ``nonce``; claims ``iss`` "cdp", ``sub`` = the key name, ``nbf`` = now and
    ``exp`` = now + 120 s. WebSocket JWTs carry no ``uri`` claim (REST ones do)."""
    issued = int(time.time() if now is None else now)
    claims = {"iss": "cdp", "sub": key.name, "nbf": issued, "exp": issued + CDP_JWT_LIFETIME}
    headers = {"kid": key.name, "nonce": secrets.token_hex(16)}
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers=headers)
