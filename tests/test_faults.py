"""An unreachable database is answered 503 with Retry-After, on the API and on pages."""

import pytest
from django.db import IntegrityError, OperationalError, connection
from django.test import Client

from tickwire.faults import is_database_down


def down(execute, sql, params, many, context):
    raise OperationalError("connection refused")


@pytest.fixture
def client(db):
    return Client()


@pytest.mark.parametrize("path", ["/api/assets/", "/api/assets/AAPL/", "/api/portfolios/"])
def test_the_api_answers_503_with_retry_after_while_the_database_is_down(client, path, settings):
    settings.TICKWIRE_RETRY_AFTER_SECONDS = 7
    with connection.execute_wrapper(down):
        response = client.get(path, HTTP_AUTHORIZATION="Token " + "a" * 40)
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response.json()["code"] == "database_unavailable"


def test_a_token_request_while_the_database_is_down_is_503_too(client):
    with connection.execute_wrapper(down):
        response = client.post(
            "/api/auth/token/",
            {"username": "demo", "password": "x"},
            content_type="application/json",
        )
    assert response.status_code == 503 and "Retry-After" in response


@pytest.mark.parametrize("path", ["/", "/accounts/login/"])
def test_pages_answer_503_with_retry_after_while_the_database_is_down(client, path):
    client.get("/accounts/login/")  # a CSRF cookie and nothing else
    with connection.execute_wrapper(down):
        response = (
            client.post(path, {"username": "demo", "password": "x"})
            if "login" in path
            else client.get(path)
        )
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1


def test_the_api_works_again_when_the_database_answers(client):
    with connection.execute_wrapper(down):
        assert client.get("/api/assets/").status_code == 503
    assert client.get("/api/assets/").status_code == 200


def test_only_unreachable_database_errors_count():
    assert is_database_down(OperationalError("database is locked"))
    assert not is_database_down(IntegrityError("duplicate key"))
    assert not is_database_down(ValueError())
