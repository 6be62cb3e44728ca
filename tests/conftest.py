"""Session-wide real services (Redis, PostgreSQL), started only when a test asks.

``TICKWIRE_TEST_DATABASE=postgres`` runs the database tests on a real PostgreSQL server
(the Makefile's second pass); the default is SQLite.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.infra import PostgresServer, RedisServer

POSTGRES = os.environ.get("TICKWIRE_TEST_DATABASE", "sqlite").lower() in {"postgres", "postgresql"}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real redis-server (no persistence) for the session."""
    srv = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL cluster for the session, in a temporary directory."""
    workdir = Path(tempfile.mkdtemp(prefix="tickwire-pg-"))
    srv = PostgresServer(workdir)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if POSTGRES:

    @pytest.fixture(scope="session")
    def django_db_modify_db_settings(postgres_server):
        """Point the Django test database at the PostgreSQL server (pytest-django hook)."""
        import dj_database_url
        from django.conf import settings
        from django.db import connections

        settings.DATABASES["default"] = dj_database_url.parse(
            postgres_server.url("tickwire"), conn_max_age=0
        )
        # Django caches the configured databases on first use: rebuild that cache.
        connections.__dict__.pop("settings", None)
        connections._settings = None
        if hasattr(connections._connections, "default"):
            connections["default"].close()
            del connections["default"]

    @pytest.fixture(scope="session", autouse=True)
    def _no_stray_connections_at_teardown(django_db_setup, django_db_blocker):
        """Close the test database's other sessions before pytest-django drops it.

        ``sync_to_async`` worker threads (Channels consumers, async views) keep their own
        Django connections, which the main thread cannot close; PostgreSQL then refuses to
        drop a database "being accessed by other users" and the test database is left
        behind. Ended from the main connection instead.
        """
        yield
        from django.db import connection

        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    @pytest.fixture(scope="session", autouse=True)
    def _e2e_database_on_postgres(postgres_server):
        """Real server processes (tests/servers.py) use a PostgreSQL database too."""
        os.environ["TICKWIRE_E2E_DATABASE_URL"] = postgres_server.create_database("tickwire_e2e")
        yield
        os.environ.pop("TICKWIRE_E2E_DATABASE_URL", None)


@pytest.fixture(autouse=True)
def _no_sign_in_failures_carried_over():
    """Failed sign-ins are counted in the cache: one test's must not throttle the next."""
    from django.core.cache import cache

    cache.clear()
    yield
