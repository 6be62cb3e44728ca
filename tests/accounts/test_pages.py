"""Login and logout pages (styled like the site), the admin for users, demo user scope."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="s3cret-pass")


def test_login_page_uses_the_site_layout():
    r = Client().get("/accounts/login/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'class="topbar"' in html and "site.css" in html  # extends base.html
    assert 'name="username"' in html and 'name="password"' in html
    assert "csrfmiddlewaretoken" in html
    assert 'href="/accounts/login/"' in html  # anonymous: "Log in" in the top bar


def test_wrong_password_shows_an_error_and_right_one_logs_in(alice):
    client = Client()
    r = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert r.status_code == 200 and "correct username and password" in r.content.decode()
    r = client.post("/accounts/login/", {"username": "alice", "password": "s3cret-pass"})
    assert r.status_code == 302 and r["Location"] == "/"
    home = client.get("/").content.decode()
    assert 'class="username">alice<' in home and 'action="/accounts/logout/"' in home


def test_login_redirects_to_next(alice):
    client = Client()
    r = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "s3cret-pass", "next": "/realtime/status/"},
    )
    assert r["Location"] == "/realtime/status/"


def test_logout_is_post_only_and_ends_the_session(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/accounts/logout/").status_code == 405  # a link cannot log you out
    r = client.post("/accounts/logout/")
    assert r.status_code == 200 and "Logged out" in r.content.decode()
    assert client.get("/api/portfolios/").status_code == 401


def test_admin_manages_users():
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(root)
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 200
    r = client.post(
        "/admin/auth/user/add/",
        {"username": "carol", "password1": "Very-long-pass-1", "password2": "Very-long-pass-1"},
    )
    assert r.status_code == 302
    assert get_user_model().objects.filter(username="carol").exists()


def test_demo_user_only_where_demo_data_is_enabled(settings):
    from tickwire.portfolios.demo import DemoDataDisabled, load_demo_data

    settings.TICKWIRE_DEMO_DATA = False
    with pytest.raises(DemoDataDisabled):
        load_demo_data()
    assert not get_user_model().objects.filter(username="demo").exists()


@pytest.mark.django_db
def test_nav_login_link_returns_to_the_page_you_were_on():
    html = Client().get("/realtime/dashboard/").content.decode()
    assert 'href="/accounts/login/?next=/realtime/dashboard/"' in html
