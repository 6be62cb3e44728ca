"""Password guessing throttled: per account and per address, on every login form.

Every failed sign-in — the login page, the admin's login, ``POST /api/auth/token/`` — is
counted by Django's ``user_login_failed`` signal against the account's name and against the
client's address, in the cache, per window of ``TICKWIRE_LOGIN_WINDOW_SECONDS``. When an
account has ``TICKWIRE_LOGIN_FAILURES_PER_ACCOUNT`` failures in the current window, or an
address ``TICKWIRE_LOGIN_FAILURES_PER_ADDRESS``, :class:`LoginThrottleMiddleware` answers
further sign-in attempts for it with 429 and ``Retry-After`` (the end of the window) before
the password is even checked — the right password too, or guessing could go on.

Counts live in Django's cache. Scaled out, that cache is Redis (``TICKWIRE_BROKER_URL``;
see the settings), so every node counts the same failures; in the embedded default it is
the process's memory. Keys are hashes: names and addresses are not stored in clear.

What this does not do: it does not tell a locked account from a wrong password in the
answer to a failed attempt, and it cannot stop someone who knows an account's name from
holding that account's sign-in closed by failing on purpose (the window bounds it). If
the cache cannot be reached, sign-in is not throttled (logged), rather than refused.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

__all__ = ["LoginThrottleMiddleware", "blocked_for", "record_failure"]

log = logging.getLogger("tickwire.accounts.throttle")

#: The views that check a password from a form or a JSON body.
SIGN_IN_VIEWS = frozenset({"login", "admin:login", "auth-token"})


def _window() -> tuple[int, float]:
    """(the current window's number, seconds until it ends)."""
    size = float(settings.TICKWIRE_LOGIN_WINDOW_SECONDS)
    now = time.time()
    number = int(now // size)
    return number, (number + 1) * size - now


def _key(kind: str, value: str, window: int) -> str:
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"tickwire:login-fail:{kind}:{digest}:{window}"


def _address(request: Any) -> str:
    # uvicorn has already replaced the peer's address with X-Forwarded-For's when the
    # request came through a trusted proxy (its forwarded_allow_ips).
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _limits() -> tuple[tuple[str, int], ...]:
    return (
        ("account", settings.TICKWIRE_LOGIN_FAILURES_PER_ACCOUNT),
        ("address", settings.TICKWIRE_LOGIN_FAILURES_PER_ADDRESS),
    )


def record_failure(username: str, address: str) -> None:
    """Count one failed sign-in for ``username`` (case-insensitive) and ``address``."""
    window, left = _window()
    timeout = math.ceil(left) + 1
    for kind, value in (("account", username.strip().lower()), ("address", address)):
        key = _key(kind, value, window)
        cache.add(key, 0, timeout=timeout)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: the window just ended
            cache.set(key, 1, timeout=timeout)


def blocked_for(username: str | None, address: str) -> float:
    """Seconds until sign-in may be tried again for this account and address; 0 if now."""
    window, left = _window()
    values = {"address": address}
    if username:
        values["account"] = username.strip().lower()
    keys = {kind: _key(kind, value, window) for kind, value in values.items()}
    counts = cache.get_many(list(keys.values()))
    for kind, limit in _limits():
        key = keys.get(kind)
        if key is not None and int(counts.get(key, 0)) >= limit:
            return left
    return 0.0


@receiver(user_login_failed, dispatch_uid="tickwire.login_failed_counted")
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any) -> None:
    if request is None:
        return
    username = credentials.get("username")
    try:
        record_failure(username if isinstance(username, str) else "", _address(request))
    except Exception:
        log.exception("counting a failed sign-in failed; sign-in is not throttled")


def _username(request: HttpRequest) -> str | None:
    name = request.POST.get("username")
    if name is None and request.content_type == "application/json":
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return None
        name = body.get("username") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


class LoginThrottleMiddleware:
    """429 with ``Retry-After`` for a sign-in attempt while its account or address is
    over its failure limit (the attempt is not checked)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and self._is_sign_in(request.path_info):
            try:
                wait = blocked_for(_username(request), _address(request))
            except Exception:
                log.exception("reading sign-in failures failed; sign-in is not throttled")
                wait = 0.0
            if wait > 0:
                return _too_many(request, wait)
        return self.get_response(request)

    @staticmethod
    def _is_sign_in(path: str) -> bool:
        try:
            return resolve(path).view_name in SIGN_IN_VIEWS
        except Resolver404:
            return False


def _too_many(request: HttpRequest, wait: float) -> HttpResponse:
    seconds = max(1, math.ceil(wait))
    message = f"Too many failed sign-in attempts; try again in {seconds} s."
    response: HttpResponse
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"detail": message, "code": "throttled"}, status=429)
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(seconds)
    log.warning("sign-in throttled for %s s (address %s)", seconds, _address(request))
    return response
