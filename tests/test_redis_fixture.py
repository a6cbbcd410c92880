"""The Redis fixture starts a real server that answers commands over its socket."""

from __future__ import annotations

import redis


def test_redis_server_answers(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    try:
        assert connection.ping() is True
        connection.set("unipush-test:fixture", b"1")
        assert connection.get("unipush-test:fixture") == b"1"
        connection.delete("unipush-test:fixture")
    finally:
        connection.close()
