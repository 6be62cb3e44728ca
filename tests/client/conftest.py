import pytest

from .fixtures import shared_server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with shared_server(tmp_path_factory) as srv:
        yield srv
