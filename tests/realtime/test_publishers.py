"""How control messages leave a process: through the running runtime's broker (from its
event loop or a worker thread), or from commands and shells over a short-lived connection."""

import asyncio
import contextvars

import pytest

from tickwire.realtime import publishers
from tickwire.realtime.publishers import LoopPublisher, broker_from_settings
from tickwire.stream import control
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.protocol import encode_body

BODY = encode_body(control.USER_CONTROL, {"user_id": 1, "event": control.USER_DISABLED})
_caller = contextvars.ContextVar("caller", default=None)


class RecordingBroker(MemoryBroker):
    """A memory broker that notes each publication and the context it ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, object]] = []

    async def publish(self, channel, body):
        pub = await super().publish(channel, body)
        self.published.append((channel, _caller.get()))
        return pub


async def test_from_a_worker_thread_the_publication_is_made_before_the_call_returns():
    broker = RecordingBroker()
    publisher = LoopPublisher(broker, asyncio.get_running_loop())

    def sync_view():
        # A sync view's context (asgiref's thread-sensitive marker, say) must not travel
        # into the tasks the publication starts on the loop.
        _caller.set("sync view")
        return publisher("control.user.1", BODY), list(broker.published)

    taken, published = await asyncio.to_thread(sync_view)
    assert taken and published == [("control.user.1", None)]
    latest = await broker.latest("control.user.1")
    assert latest is not None and latest.seq == 1


async def test_on_the_brokers_own_loop_the_publication_is_scheduled():
    broker = RecordingBroker()
    assert LoopPublisher(broker, asyncio.get_running_loop())("control.user.2", BODY)
    for _ in range(100):  # bounded: the task runs on a later turn of the loop
        if broker.published:
            break
        await asyncio.sleep(0.01)
    assert [channel for channel, _ in broker.published] == ["control.user.2"]


def test_a_publisher_whose_loop_has_stopped_declines_and_sends_nothing():
    loop = asyncio.new_event_loop()
    broker = RecordingBroker()
    try:
        assert LoopPublisher(broker, loop)("control.user.3", BODY) is False
        assert loop.run_until_complete(broker.latest("control.user.3")) is None
    finally:
        loop.close()


def test_from_a_command_with_the_memory_broker_nothing_is_sent(settings, monkeypatch):
    settings.TICKWIRE_BROKER_URL = "memory://"
    opened = []
    monkeypatch.setattr(publishers, "broker_from_settings", lambda url=None: opened.append(url))
    assert publishers.publish_once("control.user.4", BODY) is True
    assert opened == []  # no server process could hear it: no connection is opened


@pytest.mark.django_db
def test_repeated_publishes_from_a_command_reach_redis_with_the_nodes_prefix(
    redis_server, settings
):
    # Through stream.control.publish, as services call it: the realtime app bound
    # publish_once when Django loaded. Each publish runs on a fresh event loop
    # (async_to_sync); the second used to hang in broker.close(), which stalled
    # `load_demo_data` on a second node's start.
    settings.TICKWIRE_BROKER_URL = redis_server.url
    settings.TICKWIRE_REDIS_PREFIX = "ctltest"
    for _ in range(3):
        control.publish("control.portfolio.1", "portfolio_control", {"reason": "test"})

    async def latest():
        broker = broker_from_settings()
        try:
            return await broker.latest("control.portfolio.1")
        finally:
            await broker.close()

    pub = asyncio.run(latest())
    assert pub is not None and pub.seq == 3
