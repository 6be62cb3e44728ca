import pytest

from tests.client.fixtures import shared_server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with shared_server(tmp_path_factory) as srv:
        yield srv
