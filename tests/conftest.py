"""Fixtures shared by the cross-provider tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import redis_server
from tests.support import all_providers_client
from unipush import PushClient


@pytest.fixture
def client() -> PushClient:
    return all_providers_client()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real Redis server (``redis-server`` on a free port) for the whole test session.

    Tests share the server: each uses keys of its own (a prefix made from the test's name).
    """
    with redis_server() as url:
        yield url
