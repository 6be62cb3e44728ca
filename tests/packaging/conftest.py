import pytest

from tests.packaging.venvs import build_wheel


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The package's wheel, built once for the session from a copy of the checkout."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))
