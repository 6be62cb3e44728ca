"""A small blocking client for Tickwire's REST API of alerts (``/api/alerts/``).

:class:`AlertsAPI` creates, lists, edits and removes your server-side alert rules, reads the
events they fired and your alert settings. Rules and events are returned as the JSON the
API documents (docs/alerts.md, "API, client and command line"); conditions may be given as
the rule engine's objects (``Above("200")``) or as their JSON form. A refusal raises
:class:`APIError` carrying the server's messages per field, so a program can show them or
pick one out. It imports no Django: it is the client install's.

It does not retry: a request that fails raises at once (the WebSocket :class:`Client` is
the part that reconnects).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tickwire.stream.alerts import Condition, Rule, Target

from .events import AuthenticationError, ConnectionFailed, TickwireError

__all__ = ["APIError", "AlertsAPI", "http_base"]

#: The WebSocket endpoint's path, stripped to find the server's HTTP base URL.
_WS_PATH = "/ws/realtime/"


class APIError(TickwireError):
    """The server refused a request. ``status`` is the HTTP status; ``errors`` maps each
    field to its messages (``{"condition": ["level: must be a number, not 'abc'"]}``;
    ``{"detail": [...]}`` for a refusal that names no field). ``str(error)`` is one line
    naming the first field."""

    def __init__(self, status: int, errors: Mapping[str, list[str]], method: str, path: str):
        self.status = status
        self.errors = dict(errors)
        self.method = method
        self.path = path
        super().__init__(self.line())

    def line(self) -> str:
        """The refusal as one line: ``condition: level: must be a number, not 'abc'``."""
        parts = []
        for field, messages in self.errors.items():
            text = "; ".join(messages)
            parts.append(text if field == "detail" else f"{field}: {text}")
        return "; ".join(parts) or f"{self.method} {self.path}: HTTP {self.status}"


def http_base(url: str) -> str:
    """The server's HTTP base URL from ``url``: an ``http(s)://`` URL as it is, or the
    WebSocket URL the other commands take (``ws://host:8000/ws/realtime/`` →
    ``http://host:8000``). Raises ``ValueError`` for anything else."""
    parts = urlsplit(url.strip())
    scheme = {"ws": "http", "wss": "https", "http": "http", "https": "https"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(
            f"{url!r} is not a server URL; expected http://host:port or ws://host:port/ws/realtime/"
        )
    path = parts.path
    if path.endswith(_WS_PATH):
        path = path[: -len(_WS_PATH)]
    return urlunsplit((scheme, parts.netloc, path.rstrip("/"), "", ""))


def _condition(condition: Condition | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(condition, Mapping):
        return dict(condition)
    # The engine writes a condition's JSON form as part of a rule's.
    form: dict[str, Any] = Rule("x", Target.asset("X"), condition).to_dict()["condition"]
    return form


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("expires_at needs a timezone: a datetime with tzinfo")
        return value.isoformat()
    return value


def _errors(response: httpx.Response) -> dict[str, list[str]]:
    if response.status_code == 404:
        path = response.request.url.path
        if path.rstrip("/").rpartition("/")[2].isdigit():
            # Someone else's rule is 404 exactly like a missing one.
            return {"detail": [f"not found: {path} is no rule or event of yours"]}
        return {"detail": [f"not found: {path} (is this a Tickwire server with alerts?)"]}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body:
        out: dict[str, list[str]] = {}
        for field, messages in body.items():
            if isinstance(messages, list):
                out[str(field)] = [str(m) for m in messages]
            elif isinstance(messages, dict):
                out[str(field)] = [f"{k}: {v}" for k, v in messages.items()]
            else:
                out[str(field)] = [str(messages)]
        return out
    return {"detail": [f"HTTP {response.status_code} {response.reason_phrase}"]}


class AlertsAPI:
    """Your alert rules on a Tickwire server.

    ``url`` is the server (``http://127.0.0.1:8000``) or its WebSocket URL; ``token`` your
    API token (``POST /api/auth/token/``). Every method raises :class:`APIError` when the
    server refuses (``errors`` per field), :class:`AuthenticationError` for a missing or
    refused token, :class:`ConnectionFailed` when the server cannot be reached.
    ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = http_base(url)
        headers = {"Accept": "application/json", "User-Agent": "tickwire-client"}
        if token:
            headers["Authorization"] = f"Token {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AlertsAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rules ------------------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        """All your rules, oldest first."""
        return list(self._pages("/api/alerts/", {}))

    def alert(self, rule_id: int) -> dict[str, Any]:
        """One rule. ``APIError`` 404 when it is not yours or does not exist."""
        result: dict[str, Any] = self._call("GET", f"/api/alerts/{int(rule_id)}/")
        return result

    def add_alert(
        self,
        condition: Condition | Mapping[str, Any],
        *,
        asset: str | None = None,
        portfolio: int | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Create a rule on ``asset`` (a symbol) or ``portfolio`` (an id of yours).
        ``options``: ``name``, ``hysteresis``, ``cooldown``, ``expires_at`` (an aware
        datetime or ISO text), ``one_shot``, ``enabled``, ``channels``. Returns the rule."""
        body: dict[str, Any] = {"condition": _condition(condition)}
        if asset is not None:
            body["asset"] = asset
        if portfolio is not None:
            body["portfolio"] = portfolio
        body.update({k: _json_value(v) for k, v in options.items()})
        result: dict[str, Any] = self._call("POST", "/api/alerts/", body)
        return result

    def update_alert(self, rule_id: int, **fields: Any) -> dict[str, Any]:
        """Change some fields of a rule (``PATCH``); returns the rule. A new ``asset`` or
        ``portfolio`` replaces the target."""
        if "condition" in fields:
            fields["condition"] = _condition(fields["condition"])
        body = {k: _json_value(v) for k, v in fields.items()}
        result: dict[str, Any] = self._call("PATCH", f"/api/alerts/{int(rule_id)}/", body)
        return result

    def enable_alert(self, rule_id: int, enabled: bool = True) -> dict[str, Any]:
        return self.update_alert(rule_id, enabled=enabled)

    def disable_alert(self, rule_id: int) -> dict[str, Any]:
        return self.update_alert(rule_id, enabled=False)

    def remove_alert(self, rule_id: int) -> None:
        """Delete a rule (its events stay, with ``rule_id`` null)."""
        self._call("DELETE", f"/api/alerts/{int(rule_id)}/")

    # -- events and settings ----------------------------------------------------------------

    def alert_events(
        self, rule: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Your rules' events, newest first (only ``rule``'s when given; at most ``limit``),
        each with its ``deliveries`` per channel."""
        params = {"rule": str(int(rule))} if rule is not None else {}
        out: list[dict[str, Any]] = []
        for event in self._pages("/api/alerts/events/", params):
            if limit is not None and len(out) >= limit:
                break
            out.append(event)
        return out

    def alert_settings(self) -> dict[str, Any]:
        """``{"email", "webhook_url", "webhook_secret"}``."""
        result: dict[str, Any] = self._call("GET", "/api/alerts/settings/")
        return result

    def update_alert_settings(self, **fields: Any) -> dict[str, Any]:
        """Set ``email`` and/or ``webhook_url`` ("" clears them)."""
        result: dict[str, Any] = self._call("PATCH", "/api/alerts/settings/", fields)
        return result

    def rotate_webhook_secret(self) -> dict[str, Any]:
        """A new webhook signing secret; returns the settings with it."""
        result: dict[str, Any] = self._call("POST", "/api/alerts/settings/rotate-secret/")
        return result

    # -- HTTP -------------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        page: Any = self._call("GET", path, params=params)
        while True:
            yield from page["results"]
            following = page.get("next")
            if not following:
                return
            page = self._call("GET", following)

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"cannot reach {self.base_url}: {exc or type(exc).__name__}"
            ) from None
        if response.status_code in (401, 403):
            detail = _errors(response).get("detail", [""])[0]
            raise AuthenticationError(
                f"{detail} (send a token: --token or TICKWIRE_TOKEN; get one with "
                "POST /api/auth/token/)".strip()
            )
        if response.status_code >= 400:
            raise APIError(response.status_code, _errors(response), method, path)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ConnectionFailed(
                f"{self.base_url}{path} did not answer JSON: is it a Tickwire server?"
            ) from None
