"""One attempt count, the same in the result and in its error's message (issue 8, item 8), over real sockets.

The engine retries a connection a few times within one request attempt and the sender retries the
request; the error used to quote the engine's count ("cannot connect ... (3 attempts)") while the
result said ``attempts=4``. Now only the sender quotes a count, and it is ``SendResult.attempts``.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

import unipush
from tests.test_send import Driver
from unipush import Notification, SendResult, TransportError
from unipush._retry import RetryPolicy
from unipush.sandbox import Sandbox

N = Notification(title="Hello", body="World", deep_link="https://example.com/x")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[str]:
    sandbox.faults.clear()
    yield str(request.param)
    sandbox.faults.clear()


def _counts(result: SendResult) -> list[str]:
    """Every attempt count the error's message quotes."""
    return re.findall(r"(\d+) attempts?\b", str(result.error))


@pytest.mark.parametrize("max_attempts", [1, 2])  # the engine alone makes 3 connection attempts each
def test_a_refused_connection_quotes_the_results_count(
    sandbox: Sandbox, closed_port: int, kind: str, max_attempts: int
) -> None:
    retry = RetryPolicy(max_attempts=max_attempts, initial_backoff=0.01, max_backoff=0.02, budget=None)
    apns = sandbox.apns_config(base_url=f"https://127.0.0.1:{closed_port}")
    driver = Driver(kind, sandbox, apns=apns, retry=retry)
    try:
        result = driver.send(N, sandbox.apns_device())
        (in_batch,) = driver.send_many(N, [sandbox.apns_device()])
    finally:
        driver.close()
    for got in (result, in_batch):
        assert not got.ok
        assert type(got.error) is TransportError
        assert str(got.error).startswith(f"cannot connect to 127.0.0.1:{closed_port}")
        assert got.attempts == max_attempts
        assert _counts(got) == [str(max_attempts)]  # one count, the result's
        assert got.error.maybe_processed is False
        assert isinstance(got.error.__cause__, OSError)  # the refusal itself, as the engine reported it


def test_a_timeout_quotes_the_results_count(sandbox: Sandbox, kind: str) -> None:
    sandbox.latency(5.0, "fcm", times=None)
    retry = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02, budget=None)
    driver = Driver(kind, sandbox, retry=retry, timeout=0.2)
    try:
        result = driver.send(N, sandbox.fcm_device())
    finally:
        driver.close()
    assert isinstance(result.error, unipush.TimeoutError)  # same type after the message names the count
    assert result.attempts == 2
    assert _counts(result) == ["2"]
    assert str(result.error).endswith("(2 attempts)")
