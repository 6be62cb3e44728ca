"""Content-Security-Policy on every HTML page.

The pages load their scripts and styles from this server only (no inline script, no
inline style, no CDN), open the WebSocket to this server, and draw charts on a canvas, so
the policy can be strict: an injected ``<script>`` or a script from elsewhere does not
run. The policy is ``TICKWIRE_CONTENT_SECURITY_POLICY`` (empty turns it off). ``'self'``
in ``connect-src`` covers ``ws://``/``wss://`` to this host and port (CSP Level 3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

__all__ = ["ContentSecurityPolicyMiddleware", "allow_inline_styles"]

class ContentSecurityPolicyMiddleware:
    """Adds the policy to HTML responses that do not set one of their own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.TICKWIRE_CONTENT_SECURITY_POLICY
        if (
            policy
            and "Content-Security-Policy" not in response
            and response.get("Content-Type", "").startswith("text/html")
        ):
            response["Content-Security-Policy"] = policy
        return response


def allow_inline_styles(view: Callable[..., Any]) -> Callable[..., Any]:
    """The site's policy with ``'unsafe-inline'`` styles, for a third-party page that sets
    style attributes (Swagger UI's API docs). Scripts stay restricted to this server."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        policy = settings.TICKWIRE_CONTENT_SECURITY_POLICY
        if policy and hasattr(response, "__setitem__"):
            response["Content-Security-Policy"] = policy.replace(
                "style-src 'self'", "style-src 'self' 'unsafe-inline'"
            )
        return response

    return wrapped
