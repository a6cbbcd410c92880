"""Fixtures for the engine tests: the sandbox's real TLS + HTTP/2 server in front of a tiny echo emulator.

The echo emulator answers every request with its body (or ``x-size`` bytes when asked) and keeps the
numbers the tests assert on: how many times each ``x-id`` was processed, and how many requests were
being handled at once.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from unipush._engine import Engine
from unipush.sandbox import (
    EmulatorBase,
    Fault,
    Faults,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    SandboxTLS,
    create_tls,
)


class EchoEmulator(EmulatorBase):
    """Answers 200 with the request body; counts processed ids and concurrency."""

    name = "echo"

    def __init__(self) -> None:
        self.seen: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0  # seconds each request takes
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        request_id = request.headers.get("x-id", "")
        self.seen[request_id] += 1
        self.headers.append(dict(request.headers))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Always yield once, so requests of one batch overlap at the server as they would with
            # a real service, and the concurrency count means something.
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        size = request.headers.get("x-size")
        body = bytes(i % 251 for i in range(int(size))) if size else request.body
        return SandboxResponse(status=200, headers={"x-id": request_id, "x-path": request.path}, body=body)

    def target_of(self, request: SandboxRequest) -> str | None:
        return request.headers.get("x-id")

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(status=fault.status, headers={"retry-after": fault.retry_after or "1"}, body=b"fault")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox_tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return create_tls(Path(tmp_path_factory.mktemp("engine-tls")))


@pytest.fixture
def client_context(sandbox_tls: SandboxTLS) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sandbox_tls.ca_path))


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def echo() -> EchoEmulator:
    return EchoEmulator()


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
async def server(echo: EchoEmulator, faults: Faults, sandbox_tls: SandboxTLS) -> AsyncIterator[SandboxServer]:
    server = SandboxServer(echo, ssl_context=sandbox_tls.server_context(), faults=faults)
    await server.start()
    yield server
    await server.close(grace=0.2)


@pytest.fixture
async def make_engine(server: SandboxServer, client_context: ssl.SSLContext) -> AsyncIterator[Callable[..., Engine]]:
    """Engines made through this are closed after the test, before the server (set up first)."""
    engines: list[Engine] = []

    def make(**options: object) -> Engine:
        options.setdefault("ssl_context", client_context)
        engine = Engine(**options)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()
