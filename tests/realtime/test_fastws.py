"""The direct-write link on its own: a fake protocol and transport, a real event loop."""

from __future__ import annotations

import asyncio

import orjson

from tickwire.realtime.fastws import WRITE_CHUNK, DirectLink
from tickwire.stream.hub import Hub, Outbox
from tickwire.stream.protocol import CloseCode


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))


class Proto:
    """What DirectLink uses of DirectWebSocketProtocol."""

    def __init__(self) -> None:
        self.transport = Transport()
        self.loop = asyncio.get_running_loop()
        self.close_sent = False
        self.disconnected = False
        self.closed_with: tuple[int, str] | None = None

    def close_now(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        self.close_sent = True


def frames_in(data: bytes) -> list[bytes]:
    """Split a byte stream of unmasked server text frames into payloads."""
    out, at = [], 0
    while at < len(data):
        assert data[at] == 0x81
        n, at = data[at + 1], at + 2
        if n == 126:
            n, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif n == 127:
            n, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        out.append(data[at : at + n])
        at += n
    return out


async def passes(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_batching_client_far_behind_is_written_in_bounded_chunks_losing_nothing():
    hub = Hub()
    proto = Proto()
    link = DirectLink(proto)  # type: ignore[arg-type]
    box = Outbox(limit=10_000, wake=link.wake)
    link.attach(box, hub.pacer)
    hub.subscribe("asset.A", box)
    hub.set_batch(box, True)
    link.can_write = False  # the socket's buffer is full: batches queue in the outbox
    update = b'{"type":"asset_update","seq":%d,"pad":"' + b"x" * 2000 + b'"}'
    for flush in range(200):
        for i in range(10):
            seq = flush * 10 + i + 1
            hub.deliver("asset.A", seq, update % seq, conflate=True)
        hub.flush_batches()
    assert len(box) == 200  # ~4 MB queued, every array shared with any other batching client
    link.can_write = True
    link.wake(box)
    await passes(100)
    writes = proto.transport.writes
    assert len(writes) > 10 and all(len(w) <= WRITE_CHUNK + 64 * 1024 for w in writes)
    seqs = [m["seq"] for w in writes for f in frames_in(w) for m in orjson.loads(f)]
    assert seqs == list(range(1, 2001))  # every update, once, in order
    assert len(box) == 0 and box.fast is not None  # caught up: back on the direct path


async def test_a_closed_outbox_writes_one_chunk_then_its_close_frame():
    hub = Hub()
    proto = Proto()
    link = DirectLink(proto)  # type: ignore[arg-type]
    box = Outbox(limit=10_000, wake=link.wake)
    link.attach(box, hub.pacer)
    link.can_write = False
    for i in range(100):
        box.push(b'{"n":%d,"pad":"%s"}' % (i, b"y" * 10_000))
    link.can_write = True
    box.close(CloseCode.SLOW_CONSUMER, "client too slow to read updates")
    await passes(5)
    assert len(proto.transport.writes) == 1 and len(proto.transport.writes[0]) <= WRITE_CHUNK
    assert proto.closed_with == (CloseCode.SLOW_CONSUMER, "client too slow to read updates")


async def test_on_shutdown_pending_frames_go_out_before_the_1012_close():
    hub = Hub()
    proto = Proto()
    link = DirectLink(proto)  # type: ignore[arg-type]
    outbox = Outbox(limit=100, wake=link.wake)
    link.attach(outbox, hub.pacer)
    hub.subscribe("asset.A", outbox)
    for n in (1, 2, 3):  # the first goes straight out, the others wait for the next pass
        hub.deliver("asset.A", n, orjson.dumps({"seq": n}), conflate=False)
    link.drain()  # what DirectWebSocketProtocol.shutdown does before uvicorn's part
    sent = [orjson.loads(f)["seq"] for f in frames_in(b"".join(proto.transport.writes))]
    assert sent == [1, 2, 3]
    assert proto.closed_with == (CloseCode.SERVICE_RESTART, "server restarting")
