"""Coinbase with a CDP API key: a fresh ES256 JWT per connection, checked by the fake
provider with the key's public half, and clear errors for keys that cannot work."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tickwire.stream.feeds import SourceConfigError
from tickwire.stream.feeds.registry import build_source
from tickwire.stream.feeds.websocket import CoinbaseSource
from tickwire.stream.feeds.websocket.cdp import CDP_JWT_LIFETIME, load_cdp_key

from .conftest import CRYPTO
from .fakes import Consumer, FakeConn, FakeWsServer, sample

COINBASE = sample("coinbase.json")
KEY_NAME = "organizations/0c5d2a1e-org/apiKeys/7f3e9b20-key"


def pem(key: object, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, fmt, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def secret(ec_key) -> str:
    # What the CDP portal hands out: a SEC1 "EC PRIVATE KEY" block.
    return pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL)


class FakeCoinbase:
    """Checks each subscribe's JWT as Coinbase does: signature, claims, lifetime."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        self.public_key = public_key
        self.tokens: list[str] = []

    async def check(self, conn: FakeConn) -> dict:
        subs = await conn.wait_received(2)
        tokens = {sub["jwt"] for sub in subs}
        assert len(tokens) == 1, "one JWT for the connection's subscribe messages"
        token = tokens.pop()
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "ES256" and header["kid"] == KEY_NAME
        assert len(header["nonce"]) >= 32 and int(header["nonce"], 16) >= 0
        claims = jwt.decode(
            token,
            self.public_key,
            algorithms=["ES256"],
            options={"require": ["iss", "sub", "nbf", "exp"]},
        )
        assert claims["iss"] == "cdp" and claims["sub"] == KEY_NAME
        assert claims["exp"] - claims["nbf"] == CDP_JWT_LIFETIME == 120
        # Signed now, not at start-up (a generous bound: this is about clocks, not speed).
        assert abs(claims["nbf"] - time.time()) < 60
        self.tokens.append(token)
        return claims


async def test_each_connection_subscribes_with_a_fresh_signed_jwt(ec_key, secret, fast):
    fake = FakeCoinbase(ec_key.public_key())
    async with FakeWsServer() as server:
        source = CoinbaseSource(
            CRYPTO, url=server.url("/"), api_key=KEY_NAME, api_secret=secret, **fast
        )
        consumer = Consumer(source)
        first = await server.next_connection()
        await fake.check(first)
        await first.send(COINBASE["messages"][1])
        await consumer.wait_ticks(2)
        first.drop()
        second = await server.next_connection()
        await fake.check(second)
        status = source.status()
        await consumer.close()
    assert fake.tokens[0] != fake.tokens[1]
    assert status["authenticated"] is True and status["jwts_signed"] == 2
    assert secret.splitlines()[1] not in repr(status) + repr(source.cdp_key)


async def test_a_one_line_secret_with_literal_newlines_from_an_env_file(ec_key, secret, fast):
    one_line = secret.strip().replace("\n", "\\n")
    fake = FakeCoinbase(ec_key.public_key())
    async with FakeWsServer() as server:
        source = build_source(
            "coinbase",
            CRYPTO,
            interval=1.0,
            batch_size=50,
            options={
                "url": server.url("/"),
                "api_key": KEY_NAME,
                "api_secret": one_line,
                "backoff_initial": "0.01",
            },
        )
        consumer = Consumer(source)
        await fake.check(await server.next_connection())
        await consumer.close()


def test_the_secret_may_come_from_a_file(ec_key, tmp_path):
    path = tmp_path / "cdp_key.pem"
    path.write_text(pem(ec_key, serialization.PrivateFormat.PKCS8))
    key = load_cdp_key(KEY_NAME, secret_file=str(path))
    assert key is not None and key.name == KEY_NAME
    assert key.private_key.private_numbers() == ec_key.private_numbers()


def test_without_a_key_the_public_channels_need_no_secret():
    assert CoinbaseSource(CRYPTO).cdp_key is None
    assert CoinbaseSource(CRYPTO).status()["authenticated"] is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_key": KEY_NAME}, r"api_key needs its private key.*api_secret"),
        ({"api_secret": "SECRET"}, r"api_secret is set but api_key is not"),
        (
            {"api_key": "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJjZHAifQ.c2ln", "api_secret": "SECRET"},
            r"api_key \(TICKWIRE_FEED_API_KEY\) holds a ready-made JWT",
        ),
        ({"api_key": KEY_NAME, "api_secret": "not a key"}, r"api_secret .* is not a PEM"),
        (
            {
                "api_key": KEY_NAME,
                "api_secret": "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----",
            },
            r"api_secret .* is not a readable PEM private key",
        ),
        ({"api_key": KEY_NAME, "api_secret_file": "/nonexistent/cdp.pem"}, r"api_secret_file"),
        (
            {"api_key": KEY_NAME, "api_secret": "x", "api_secret_file": "/x.pem"},
            r"api_secret and api_secret_file: give one",
        ),
    ],
)
def test_keys_that_cannot_work_are_start_up_errors_naming_the_option(options, message):
    with pytest.raises(SourceConfigError, match=message):
        build_source("coinbase", CRYPTO, interval=1.0, batch_size=50, options=options)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()), "secp384r1"),
        (ed25519.Ed25519PrivateKey.generate, "Ed25519PrivateKey"),
    ],
)
def test_a_key_that_is_not_ec_p256_is_refused(make, kind):
    secret = pem(make(), serialization.PrivateFormat.PKCS8)
    with pytest.raises(SourceConfigError, match=f"api_secret .*EC P-256.*{kind}"):
        CoinbaseSource(CRYPTO, api_key=KEY_NAME, api_secret=secret)
