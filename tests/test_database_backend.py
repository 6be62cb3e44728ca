"""The suite runs on the database it was asked for (``make test`` runs a PostgreSQL pass)."""

import os

import pytest
from django.db import connection

from tests.conftest import POSTGRES


def test_django_tests_use_the_requested_database(db):
    assert connection.vendor == ("postgresql" if POSTGRES else "sqlite")
    if POSTGRES:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version_num')::int")
            assert cursor.fetchone()[0] >= 150000


@pytest.mark.skipif(not POSTGRES, reason="server processes use their own SQLite files")
def test_server_processes_use_the_requested_database():
    assert os.environ["TICKWIRE_E2E_DATABASE_URL"].startswith("postgres://")
