import itertools

import pytest

from tickwire.stream.brokers import MemoryBroker

_prefixes = itertools.count(1)


def _memory(request, **kw):
    return MemoryBroker(**kw)


def _redis(request, **kw):
    from tickwire.stream.brokers.redis import RedisBroker

    server = request.getfixturevalue("redis_server")
    # A key prefix per broker keeps tests apart on the one shared Redis.
    prefix = kw.pop("prefix", None) or f"test{next(_prefixes)}"
    return RedisBroker(server.url, prefix=prefix, **kw)


BROKER_FACTORIES = {"memory": _memory, "redis": _redis}


@pytest.fixture(params=sorted(BROKER_FACTORIES))
async def make_broker(request):
    """Build brokers of each backend; the contract suite runs against every one."""
    made = []

    def make(**kw):
        broker = BROKER_FACTORIES[request.param](request, **kw)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.close()
