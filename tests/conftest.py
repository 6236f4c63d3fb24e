"""The project's fixtures are the ones kehu ships to plugin authors
(kehu.testing.plugin, loaded by pytest through kehu's entry point), under the
short names these tests use: so both stay fast (a template database copy and a
shared schema per app) and both are exercised by the whole suite."""

import pytest


@pytest.fixture
def db_url(kehu_database_url):
    """A fresh database for this test (SQLite file, or PostgreSQL with KEHU_TEST_POSTGRES)."""
    return kehu_database_url


@pytest.fixture
def make_app(kehu_make_app):
    """Factory: ``make_app(enabled=("loyalty",), settings=..., extra_plugins=..., config=...)``."""
    return kehu_make_app


@pytest.fixture
def app(kehu_app):
    """A kehu app with no plugins and the seeded accounts of kehu.testing.ACCOUNTS."""
    return kehu_app


@pytest.fixture
def clock(kehu_clock):
    """The clock of the apps ``make_app`` and ``app`` open (frozen at 2026-01-01 09:00 UTC)."""
    return kehu_clock


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker more than there are cores, at most 8. A good part of
    the suite waits for a browser, a server or a subprocess, so a core is left
    idle by a worker that waits; measured on two cores (docs/internals.md): two
    workers 6 m 4 s, three 5 m 22 s–5 m 32 s, four 6 m 2 s. Each worker builds its
    own schemas, so many more workers mostly repeat them."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min((cores or 1) + 1, 8))
