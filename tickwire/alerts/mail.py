"""Email delivery: an alert as a plain-text message for people, sent through Django's
email backend (the ``EMAIL_*`` settings).

The message carries the event's key in ``X-Tickwire-Event-Id`` and in its ``Message-ID``,
so a retried send that did arrive the first time shows as the same message to mail
clients that collapse duplicates. :func:`send` is blocking; the dispatcher runs it in a
thread, bounded by ``TICKWIRE_ALERT_DELIVERY_TIMEOUT``. It neither retries nor writes
anything.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from .webhooks import Attempt

__all__ = ["message", "send"]

#: SMTP answers in the 5xx range that will be the same next time (bad address, refused).
_PERMANENT = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def _subject(payload: Mapping[str, Any]) -> str:
    name = str(payload.get("name") or "").strip()
    subject = f"Tickwire alert: {name or payload.get('message', '')}"
    # A header holds one line: a name typed with line breaks must not end the subject.
    return " ".join(subject.split())[:200]


def _body(payload: Mapping[str, Any]) -> str:
    target = payload.get("target") or {}
    what = target.get("asset") or (
        f"portfolio {target['portfolio']}" if "portfolio" in target else ""
    )
    lines = [
        str(payload.get("message", "")),
        "",
        f"Rule:      {payload.get('name') or payload.get('condition', '')}",
        f"Target:    {what}",
        f"Condition: {payload.get('condition', '')}",
        f"Value:     {payload.get('value', '')}",
        f"Level:     {payload.get('level', '')}",
        f"Time:      {payload.get('fired_at', '')} (UTC)",
        "",
        f"Event id:  {payload.get('event_id', '')}",
        "",
        "You receive this because email is a channel of this alert rule in Tickwire.",
    ]
    return "\n".join(lines) + "\n"


def message(payload: Mapping[str, Any], to: str) -> EmailMessage:
    """The email of an alert payload (``outbox.event_payload``) to the address ``to``."""
    key = str(payload.get("event_id", ""))
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "tickwire"
    return EmailMessage(
        subject=_subject(payload),
        body=_body(payload),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"X-Tickwire-Event-Id": key, "Message-ID": f"<{key}@{domain}>"},
    )


def send(payload: Mapping[str, Any], to: str, *, timeout: float) -> Attempt:
    """Send the alert email once (blocking). Connection errors, timeouts and temporary
    SMTP answers: retry; a refused recipient, sender or message: failed."""
    try:
        with get_connection(timeout=timeout) as connection:
            connection.send_messages([message(payload, to)])
    except _PERMANENT as exc:
        code = getattr(exc, "smtp_code", None)
        if isinstance(code, int) and 400 <= code < 500:
            return Attempt(False, retry=True, error=f"SMTP {code}: {exc}"[:200])
        return Attempt(False, error=f"{type(exc).__name__}: {exc}"[:200])
    except (smtplib.SMTPException, OSError) as exc:
        return Attempt(False, retry=True, error=f"{type(exc).__name__}: {exc}"[:200])
    return Attempt(True)
