"""Opening sockets through the whole ASGI stack, with a session cookie or an API token."""

from __future__ import annotations

import orjson
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token

from tickwire.asgi import application


async def open_socket(headers=None):
    comm = WebsocketCommunicator(application, "/ws/realtime/", headers=headers or [])
    connected, code = await comm.connect()
    return comm, connected, code


async def hello(headers=None):
    comm, connected, _ = await open_socket(headers)
    assert connected
    msg = await comm.receive_json_from()
    assert msg["type"] == "connection"
    return comm, msg["data"]


async def send(comm, obj):
    await comm.send_to(text_data=orjson.dumps(obj).decode())


def _token(username):
    user = get_user_model().objects.get(username=username)
    return Token.objects.get_or_create(user=user)[0].key


def _session_cookie(username):
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client, client.cookies[django_settings.SESSION_COOKIE_NAME].value


async def token_of(username="demo"):
    return await sync_to_async(_token)(username)


def token_header(key):
    return [(b"authorization", f"Token {key}".encode())]
