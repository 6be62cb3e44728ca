"""Faults inside request handling: an error reply, never a dead handler or a leaked slot."""

import asyncio

import pytest

from tickwire.realtime import consumer as consumer_module

from .sockets import hello, open_socket, send, token_header, token_of

SUPERSCRIPT_TWO = {"type": "subscribe_portfolio", "data": {"portfolio_id": "\u00b2"}, "id": 7}


async def settle(rt, predicate, passes=200):
    """Let the loop run until ``predicate()`` holds (bounded: a number of passes)."""
    for _ in range(passes):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


async def test_malformed_portfolio_ids_do_not_lock_the_user_out(runtime, settings):
    settings.MAX_CONNECTIONS_PER_USER = 5
    key = await token_of()
    for _ in range(5):
        comm, data = await hello(token_header(key))
        assert data["authenticated"] is True
        await send(comm, SUPERSCRIPT_TWO)
        reply = await comm.receive_json_from(timeout=2)
        assert reply["type"] == "error" and reply["id"] == 7
        assert reply["data"]["code"] == "invalid_field"
        await comm.disconnect()
    comm, data = await hello(token_header(key))  # a sixth: every slot was given back
    assert data["authenticated"] is True
    await comm.disconnect()
    assert await settle(runtime, lambda: not runtime.connections)


async def test_a_fault_while_parsing_is_an_internal_error_and_the_socket_stays_usable(
    runtime, monkeypatch
):
    real = consumer_module.parse_request

    def faulty(raw):
        if b"boom" in (raw if isinstance(raw, bytes) else raw.encode()):
            raise RuntimeError("a parser bug")
        return real(raw)

    monkeypatch.setattr(consumer_module, "parse_request", faulty)
    comm, _ = await hello()
    await send(comm, {"type": "ping", "data": {"boom": 1}})
    reply = await comm.receive_json_from(timeout=2)
    assert reply["type"] == "error" and reply["data"]["code"] == "internal_error"
    await send(comm, {"type": "ping", "id": 2})
    pong = await comm.receive_json_from(timeout=2)
    assert pong["type"] == "pong" and pong["id"] == 2
    assert len(runtime.connections) == 1
    await comm.disconnect()


async def test_a_fault_outside_request_handling_still_unregisters_and_frees_the_slot(
    runtime, monkeypatch, settings
):
    settings.MAX_CONNECTIONS_PER_USER = 1
    key = await token_of()

    async def broken_attach(conn):
        raise RuntimeError("session store unreachable")

    # The slot is taken, then attaching the session guard fails: the handler dies.
    monkeypatch.setattr(runtime.sessions, "attach", broken_attach)
    comm, connected, _ = await open_socket(token_header(key))
    assert connected
    with pytest.raises(RuntimeError):
        await comm.receive_output(timeout=2)
    assert await settle(runtime, lambda: not runtime.connections)
    monkeypatch.undo()
    comm, data = await hello(token_header(key))  # the only slot was given back
    assert data["authenticated"] is True
    await comm.disconnect()


async def test_many_anonymous_malformed_messages_leave_no_connection_behind(runtime):
    for _ in range(20):
        comm, _ = await hello()
        await send(comm, SUPERSCRIPT_TWO)
        reply = await comm.receive_json_from(timeout=2)
        assert reply["data"]["code"] == "invalid_field"
        await comm.disconnect()
    assert await settle(runtime, lambda: not runtime.connections)
    assert runtime.global_stats()["total_connections"] == 0
