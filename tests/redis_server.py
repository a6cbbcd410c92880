"""A real Redis server for the tests that need one: Debian's ``redis-server`` on a free loopback port.

Started once per test session by the ``redis_url`` fixture (``tests/conftest.py``) and stopped by it.
Where ``redis-server`` is not installed the tests that need it skip with the reason, unless
``UNIPUSH_REQUIRE_REDIS=1`` is set (``.ci/run`` sets it): then a missing server fails them instead, so
CI can never pass with those tests skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

__all__ = ["REQUIRE_ENV", "redis_server"]

REQUIRE_ENV = "UNIPUSH_REQUIRE_REDIS"
_START_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: these tests must run here)", pytrace=False)
    pytest.skip(reason)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[str]:
    """Run ``redis-server`` on 127.0.0.1 and a free port (no persistence); yield its ``redis://`` URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed (Debian: apt-get install redis-server)")
        raise AssertionError("unreachable")  # pragma: no cover - skip/fail raise
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="unipush-redis-") as workdir:
        process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not _ping(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    _unavailable(f"redis-server did not start on port {port}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
