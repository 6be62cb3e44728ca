import pytest

from tests.servers import ServerProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One real server (embedded default: memory broker, simulated feed, demo data)."""
    srv = ServerProcess(tmp_path_factory.mktemp("e2e")).start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path):
    """Start extra servers with their own settings; all are stopped after the test."""
    started = []

    def make(env=None, wait_healthy=True, **kw):
        srv = ServerProcess(tmp_path, env=env, **kw).start(wait_healthy=wait_healthy)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
