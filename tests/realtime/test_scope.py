"""Reading headers from an ASGI scope, as both handshake middlewares do."""

from tickwire.realtime.scope import header


def test_the_first_value_of_the_named_header():
    scope = {"headers": [(b"host", b"h"), (b"origin", b"https://a"), (b"origin", b"https://b")]}
    assert header(scope, b"origin") == "https://a"


def test_a_missing_header_or_header_list_is_none():
    assert header({"headers": [(b"host", b"h")]}, b"authorization") is None
    assert header({}, b"origin") is None


def test_values_are_latin_1_so_no_bytes_raise():
    assert header({"headers": [(b"authorization", b"Token caf\xe9")]}, b"authorization") == (
        "Token café"
    )
