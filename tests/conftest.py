import pytest

from kehu.clock import FrozenClock
from kehu.testing import KehuHarness, database_url


@pytest.fixture
def db_url(tmp_path):
    with database_url(tmp_path) as url:
        yield url


@pytest.fixture
def make_app(db_url):
    """Factory: ``make_app(enabled=("loyalty",), settings=..., extra_plugins=...)``."""
    opened = []

    def make(**kwargs):
        harness = KehuHarness(db_url, **kwargs).__enter__()
        opened.append(harness)
        return harness

    yield make
    for harness in reversed(opened):
        harness.__exit__(None, None, None)


@pytest.fixture
def app(make_app):
    """A kehu app with no plugins and the seeded accounts of kehu.testing.ACCOUNTS."""
    return make_app()


@pytest.fixture
def clock():
    return FrozenClock()
