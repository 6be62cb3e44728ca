import pytest

from tickwire.portfolios.demo import load_demo_data
from tickwire.realtime import runtime as runtime_module


@pytest.fixture
def demo(transactional_db):
    """Demo assets in a database the consumer's worker threads can see."""
    return load_demo_data()


@pytest.fixture
async def runtime(demo):
    """The process runtime, started on this test's event loop and stopped after it."""
    rt = await runtime_module.get_runtime()
    yield rt
    await runtime_module.shutdown_runtime()
