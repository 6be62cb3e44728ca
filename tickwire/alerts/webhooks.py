"""Webhook delivery: the body, its signature and what a receiver's answer means.

A webhook is a JSON POST of ``{"type": "alert", "data": <the alert payload>}`` (the
payload is :func:`tickwire.alerts.outbox.event_payload`, the ``alert`` message's
``data``). ``X-Tickwire-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body
bytes under the user's ``webhook_secret``; ``X-Tickwire-Event-Id`` and
``Idempotency-Key`` carry the event's key, the same on every retry, so a receiver that
stores the keys it has seen handles an event once. :func:`verify` is what a receiver in
Python runs.

This module sends one attempt and classifies the answer; it neither retries nor writes
anything (:mod:`tickwire.alerts.delivery` does both).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

__all__ = [
    "SIGNATURE_HEADER",
    "Attempt",
    "post",
    "retry_after",
    "sign",
    "verify",
    "webhook_body",
]

SIGNATURE_HEADER = "X-Tickwire-Signature"
#: Answers worth retrying besides 5xx: the receiver timed out or asks us to slow down.
_RETRY_STATUSES = frozenset({408, 429})
#: How much of a refusing receiver's body ``last_error`` keeps.
_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: ``ok``; else ``retry`` (worth trying again, after
    ``retry_after`` seconds if the receiver said so) or not, and why."""

    ok: bool
    retry: bool = False
    error: str = ""
    retry_after: float | None = None


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed) for an alert payload."""
    return orjson.dumps({"type": "alert", "data": dict(payload)})


def sign(body: bytes, secret: str) -> str:
    """The ``X-Tickwire-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    """True when ``signature`` (the header's value) signs ``body`` under ``secret``;
    compared in constant time."""
    return hmac.compare_digest(sign(body, secret), signature)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None
    when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    secret: str,
    key: str,
    attempt: int,
    timeout: float,
) -> Attempt:
    """POST ``body`` to ``url`` once. 2xx: delivered. Network errors, timeouts, 5xx, 408
    and 429 (with its ``Retry-After``): retry. Any other answer: failed, naming the
    status and the start of the body."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tickwire-Webhook/1",
        SIGNATURE_HEADER: sign(body, secret),
        "X-Tickwire-Event-Id": key,
        "Idempotency-Key": key,
        "X-Tickwire-Delivery-Attempt": str(attempt),
    }
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return Attempt(False, retry=True, error=f"timed out after {timeout:g}s")
    except httpx.HTTPError as exc:
        return Attempt(False, retry=True, error=f"{type(exc).__name__}: {exc}"[:_EXCERPT])
    status = response.status_code
    if 200 <= status < 300:
        return Attempt(True)
    excerpt = response.text[:_EXCERPT].strip()
    error = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if status >= 500 or status in _RETRY_STATUSES:
        wait = retry_after(response.headers.get("Retry-After")) if status == 429 else None
        return Attempt(False, retry=True, error=error, retry_after=wait)
    return Attempt(False, error=error)
