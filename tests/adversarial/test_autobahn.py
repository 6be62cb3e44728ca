"""The Autobahn TestSuite's cases (through ``kosoku``) against ``/ws/realtime/``.

Autobahn expects an echo server; Tickwire is not one (it greets with ``connection`` and
answers each message with a reply or an ``error``), so most cases' message verdicts are
FAILED whoever runs them. What matters is how the WebSocket layer treats the protocol
violations: bad opcodes, reserved bits, fragmented control frames, invalid UTF-8, bad
close codes. So the reference is the websockets library's own server running the same
application — the greeting, ``parse_request``, the reply builders — and the assertion is,
case by case, that Tickwire's verdicts (message and closing handshake) are no worse than
the reference's and that it closes with the same code.

The default run takes the cases that finish in milliseconds; ``make soak`` adds the
64 KiB echo cases (each waits 10 s for an echo that never comes), the large-message and
fragmentation performance cases (9.*) and the compression cases (12.*, 13.*; both servers
run without permessage-deflate).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import kosoku
import pytest
from websockets.asyncio.server import ServerConnection, serve

from tickwire.stream import builders
from tickwire.stream.protocol import ErrorCode, Ping, ProtocolError, parse_request

from .figures import report

pytestmark = pytest.mark.e2e

#: uvicorn's ws_max_size in tickwire.serve (TICKWIRE_MAX_MESSAGE_BYTES's default).
MAX_MESSAGE = 65536
QUICK_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]
#: Echo cases of 64 KiB: the case waits 10 s for an echo that never comes, on both servers.
SLOW_ECHO_CASES = ["1.1.6", "1.1.7", "1.1.8", "1.2.6", "1.2.7", "1.2.8", "10.1.1"]

ACCEPTABLE = {"OK", "NON-STRICT", "INFORMATIONAL"}


def rank(verdict: str) -> int:
    """Order the verdicts: acceptable > unimplemented > failed > could not run."""
    if verdict in ACCEPTABLE:
        return 3
    if verdict == "UNIMPLEMENTED":
        return 2
    if verdict == "ERROR":
        return 0
    return 1


async def _reference_handler(ws: ServerConnection) -> None:
    await ws.send(builders.connection(str(uuid.uuid4()), None).decode())
    async for frame in ws:
        try:
            request = parse_request(frame)
        except ProtocolError as exc:
            reply = builders.error(exc.code, exc.message, request_type=exc.request_type)
        else:
            if isinstance(request, Ping):
                reply = builders.pong(request_id=request.id)
            else:  # no assets here: every subscription is refused as Tickwire refuses one
                reply = builders.error(ErrorCode.UNKNOWN_SYMBOL, "unknown symbol")
        await ws.send(reply.decode())


@pytest.fixture(scope="module")
def reference_url() -> Iterator[str]:
    """The websockets library's server, in its own thread and event loop, on loopback."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main(started: threading.Event, box: list[str]) -> None:
        async with serve(
            _reference_handler,
            "127.0.0.1",
            0,
            max_size=MAX_MESSAGE,
            compression=None,
            ping_interval=None,
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            box.append(f"ws://127.0.0.1:{port}/")
            started.set()
            await stop.wait()

    started = threading.Event()
    box: list[str] = []
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(main(started, box)), name="ws-reference"
    )
    thread.start()
    assert started.wait(10), "the reference server did not start"
    yield box[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


async def run_cases(url: str, cases: list[str], exclude: list[str]) -> dict[str, object]:
    try:
        results = await kosoku.run_fuzzingclient(
            url, cases=cases, exclude_cases=exclude, concurrency=8
        )
    except kosoku.FailureError as exc:  # raised when any case did not pass: expected here
        results = exc.results
    return {r.case_id: r for r in results}


def compare(name: str, ours: dict, ref: dict, seconds: tuple[float, float]) -> None:
    assert set(ours) == set(ref) and ours, "both servers ran the same cases"
    worse = []
    for case_id, r in ref.items():
        t = ours[case_id]
        pair = (t.behavior.value, t.behavior_close.value, t.remote_close_code)
        expected = (r.behavior.value, r.behavior_close.value, r.remote_close_code)
        if (
            rank(pair[0]) < rank(expected[0])
            or rank(pair[1]) < rank(expected[1])
            or (rank(expected[1]) == 3 and pair[2] != expected[2])
        ):
            worse.append(f"{case_id}: tickwire {pair} vs websockets {expected}")
    tally = Counter(f"{r.behavior.value}/{r.behavior_close.value}" for r in ours.values())
    ref_tally = Counter(f"{r.behavior.value}/{r.behavior_close.value}" for r in ref.values())
    report(
        f"Autobahn ({name})",
        f"{len(ours)} cases; tickwire {dict(tally)} in {seconds[0]:.1f} s; "
        f"websockets {dict(ref_tally)} in {seconds[1]:.1f} s; worse than websockets: "
        f"{len(worse)}",
    )
    assert not worse, "\n".join(worse)


async def _run_both(server_url: str, reference: str, cases, exclude, name: str) -> None:
    async def timed(url: str) -> tuple[dict, float]:
        started = time.monotonic()
        return await run_cases(url, cases, exclude), time.monotonic() - started

    (ours, ours_s), (ref, ref_s) = await asyncio.gather(timed(server_url), timed(reference))
    compare(name, ours, ref, (ours_s, ref_s))


async def test_autobahn_cases_no_worse_than_the_websockets_library(tickwire_server, reference_url):
    await _run_both(
        tickwire_server.ws_url, reference_url, QUICK_CASES, SLOW_ECHO_CASES, "cases 1-7, 10"
    )


@pytest.mark.soak
async def test_autobahn_full_suite_no_worse_than_the_websockets_library(
    tickwire_server, reference_url
):
    await _run_both(tickwire_server.ws_url, reference_url, ["*"], [], "every case")
