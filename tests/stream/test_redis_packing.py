"""Commands packed in C are byte for byte what redis-py packs (and refused alike)."""

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from tickwire.stream.brokers.redis.packing import PackedConnection


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "f" * 40, 2, "tw:ch:asset.AAPL", "tw:hist:asset.AAPL", 1000, 3_600_000,
         "tw:pub:", "ab12cd34", "asset.AAPL", b'{"type":"asset_update","data":{}'),
        ("SET", "k", "é"),
        ("CONFIG GET", "maxmemory"),
        (b"CLIENT SETNAME", b"x"),
        ("X", -5, 10**20, b"", ""),
        ("SET", "k", "v" * 10_000),
        ("ZADD", "k", 1.5, "m"),  # a float: redis-py packs it
        ("SET", "k", memoryview(b"abc")),
    ],
)  # fmt: skip
def test_packs_the_bytes_redis_py_packs(args):
    assert b"".join(PackedConnection().pack_command(*args)) == b"".join(
        Connection().pack_command(*args)
    )


def test_a_bool_is_refused_as_redis_py_refuses_it():
    with pytest.raises(DataError):
        PackedConnection().pack_command("SET", "k", True)
