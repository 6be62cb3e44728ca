import pytest

from tickwire.stream.brokers import MemoryBroker


def _memory(**kw):
    return MemoryBroker(**kw)


BROKER_FACTORIES = {"memory": _memory}


@pytest.fixture(params=sorted(BROKER_FACTORIES))
def make_broker(request):
    """Build brokers of each backend; the contract suite runs against every one."""
    made = []

    def make(**kw):
        broker = BROKER_FACTORIES[request.param](**kw)
        made.append(broker)
        return broker

    yield make
