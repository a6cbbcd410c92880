"""Fixtures shared by the cross-provider tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.redis_server import redis_server
from tests.support import all_providers_client
from unipush import PushClient
from unipush.sandbox import Sandbox


@pytest.fixture(scope="session", autouse=True)
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``XDG_CACHE_HOME`` in a temporary directory: the CLI's ``FileStore`` never writes to the real home."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    yield
    if saved is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture
def client() -> PushClient:
    return all_providers_client()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """One running ``Sandbox`` per test module (a module that needs another kind defines its own)."""
    with Sandbox() as running:
        yield running


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real Redis server (``redis-server`` on a free port) for the whole test session.

    Tests share the server: each uses keys of its own (a prefix made from the test's name).
    """
    with redis_server() as url:
        yield url
