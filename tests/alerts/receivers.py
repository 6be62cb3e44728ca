"""Real receivers on loopback ports for alert deliveries: a webhook endpoint that checks
the signature with the snippet docs/alerts.md gives, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def documented_verifier() -> Callable[[bytes, str, str], bool]:
    """``verify_tickwire_signature`` exactly as docs/alerts.md gives it to receivers."""
    text = DOCS.read_text()
    [snippet] = [
        block
        for block in re.findall(r"```python\n(.*?)```", text, re.S)
        if "def verify_tickwire_signature" in block
    ]
    scope: dict[str, Any] = {}
    exec(compile(snippet, str(DOCS), "exec"), scope)
    return scope["verify_tickwire_signature"]  # type: ignore[no-any-return]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool


@dataclass
class WebhookReceiver:
    """A threaded HTTP server on ``port`` (0: any free one). Each POST is recorded with
    whether its signature verifies under ``secret``; ``answers`` (status, headers, body)
    are given in turn, then 204 for ever."""

    secret: str
    port: int = 0
    answers: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        verify = documented_verifier()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signature = self.headers.get("X-Tickwire-Signature") or ""
                receiver.received.append(
                    Received(dict(self.headers), raw, verify(raw, receiver.secret, signature))
                )
                status, headers, text = (
                    receiver.answers.pop(0) if receiver.answers else (204, {}, "")
                )
                payload = text.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    def __init__(self, refusals: list[str]) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.refusals = refusals

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd on a loopback port, keeping what it accepts; ``refusals`` are SMTP answers
    given (in turn) to the first messages instead of accepting them."""

    def __init__(self, refusals: list[str] | None = None) -> None:
        self.mailbox = _Mailbox(list(refusals or []))
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[tuple[str, list[str], Message]]:
        return self.mailbox.messages

    def close(self) -> None:
        self.controller.stop()
