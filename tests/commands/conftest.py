import pytest

from tickwire.portfolios.demo import load_demo_data


@pytest.fixture
def demo(transactional_db):
    """Demo assets in a database the feed's worker threads can see."""
    return load_demo_data()
