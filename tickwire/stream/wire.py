"""WebSocket text frames as a server writes them (RFC 6455 §5.2: final, unmasked).

The hub's direct-write path writes the same wire bytes to every ready subscriber of an
update, so the frame is built once per update, not once per client: :func:`text_frame`
keeps the last frame it built and returns the same object when asked for the same payload
again (a fan-out asks once per delivery, and the front end's flush may ask again).
"""

from __future__ import annotations

import struct

__all__ = ["frame_header", "text_frame"]

_headers: dict[int, bytes] = {}
# The last payload made wire-ready, and its frame.
_last: tuple[bytes, bytes] = (b"", b"")


def frame_header(length: int) -> bytes:
    """The header of a final, unmasked text frame carrying ``length`` payload bytes."""
    header = _headers.get(length)
    if header is None:
        if length < 126:
            header = bytes((0x81, length))
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 127, length)
        if len(_headers) < 8192:
            _headers[length] = header
    return header


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final WebSocket text frame carrying ``payload`` (UTF-8 JSON)."""
    global _last
    last = _last
    if payload is last[0]:
        return last[1]
    wire = frame_header(len(payload)) + payload
    _last = (payload, wire)
    return wire
