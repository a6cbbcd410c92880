"""What the engine does when the server misbehaves: GOAWAY, resets, dropped connections, slowness."""

from __future__ import annotations

import asyncio

import pytest
from h2.errors import ErrorCodes

import unipush
from unipush._engine import Engine, Response
from unipush._engine._pool import MAX_RESENDS, Pool
from unipush.sandbox._faults import Fault
from unipush.sandbox.server import SandboxServer, _h2

pytestmark = pytest.mark.anyio


async def send(engine: Engine, server: SandboxServer, request_id: str, *, timeout: float = 10) -> Response:
    return await engine.request(
        "POST", f"{server.base_url}/echo/{request_id}", {"x-id": request_id}, request_id.encode(), timeout=timeout
    )


async def outcomes(engine: Engine, server: SandboxServer, ids: list[str]) -> dict[str, Response | BaseException]:
    results = await asyncio.gather(*(send(engine, server, i) for i in ids), return_exceptions=True)
    return dict(zip(ids, results, strict=True))


@pytest.fixture
def refusing_resets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the sandbox's ``reset`` fault use REFUSED_STREAM (it answers INTERNAL_ERROR by default)."""
    original = _h2.H2Protocol._reset

    def refuse(self: _h2.H2Protocol, stream_id: int, code: ErrorCodes, *, count: bool = True) -> None:
        original(self, stream_id, ErrorCodes.REFUSED_STREAM, count=count)

    monkeypatch.setattr(_h2.H2Protocol, "_reset", refuse)


async def test_goaway_after_n_streams_loses_and_duplicates_nothing(
    make_engine, server: SandboxServer, echo, faults
) -> None:
    faults.max_concurrent_streams["echo"] = 100
    faults.goaway_after["echo"] = 150  # every connection is sent away after 150 streams
    engine = make_engine()
    ids = [str(i) for i in range(1000)]

    results = await outcomes(engine, server, ids)

    assert all(isinstance(r, Response) and r.body == i.encode() for i, r in results.items())
    assert echo.seen == dict.fromkeys(ids, 1)  # each processed exactly once
    assert server.stats.goaways >= 6
    assert server.stats.connections >= 7
    stats = engine.stats
    assert stats["resends"] > 0  # streams above last-stream-id went again on a new connection
    assert stats["reconnects"] == stats["connections_opened"] - 1 >= 6
    assert stats["in_flight"] == stats["queued_requests"] == 0


async def test_goaway_fault_resends_the_unprocessed_streams(make_engine, server: SandboxServer, echo, faults) -> None:
    echo.delay = 0.05  # everything is in flight when the GOAWAY comes
    faults.add(Fault(kind="goaway", target="10"))
    engine = make_engine()
    ids = [str(i) for i in range(30)]

    results = await outcomes(engine, server, ids)

    assert all(isinstance(r, Response) and r.status == 200 for r in results.values())
    assert echo.seen == dict.fromkeys(ids, 1)
    assert server.stats.goaways == 1
    assert server.stats.connections == 2
    assert engine.stats["resends"] >= 20  # stream "10" and everything opened after it


@pytest.mark.usefixtures("refusing_resets")
async def test_refused_streams_are_resent(engine: Engine, server: SandboxServer, echo, faults) -> None:
    faults.add(Fault(kind="reset", times=5))
    ids = [str(i) for i in range(20)]

    results = await outcomes(engine, server, ids)

    assert all(isinstance(r, Response) and r.status == 200 for r in results.values())
    assert echo.seen == dict.fromkeys(ids, 1)
    assert engine.stats["resends"] == 5
    assert server.stats.connections == 1  # REFUSED_STREAM is a stream error: the connection stays


@pytest.mark.usefixtures("refusing_resets")
async def test_a_request_refused_forever_gives_up(engine: Engine, server: SandboxServer, faults) -> None:
    faults.add(Fault(kind="reset", target="stubborn", times=None))

    with pytest.raises(unipush.TransportError, match="resends") as caught:
        await send(engine, server, "stubborn")

    assert caught.value.maybe_processed is False
    assert engine.stats["resends"] == MAX_RESENDS


async def test_other_resets_raise_and_may_have_been_processed(engine: Engine, server: SandboxServer, faults) -> None:
    faults.add(Fault(kind="reset", target="3"))

    results = await outcomes(engine, server, [str(i) for i in range(6)])

    error = results.pop("3")
    assert isinstance(error, unipush.TransportError)
    assert not isinstance(error, unipush.TimeoutError)
    assert error.maybe_processed is True
    assert "INTERNAL_ERROR" in str(error)
    assert all(isinstance(r, Response) for r in results.values())
    assert engine.stats["resends"] == 0


async def test_dropped_connection_fails_in_flight_and_later_requests_reconnect(
    make_engine, server: SandboxServer, echo, faults
) -> None:
    faults.max_concurrent_streams["echo"] = 6
    faults.add(Fault(kind="latency", delay=0.3, times=5))  # the first five stay in flight
    faults.add(Fault(kind="drop_connection", target="dropper"))
    engine = make_engine()
    in_flight = [asyncio.ensure_future(send(engine, server, str(i))) for i in range(5)]
    await asyncio.sleep(0.05)
    dropper = asyncio.ensure_future(send(engine, server, "dropper"))
    queued = [asyncio.ensure_future(send(engine, server, f"q{i}")) for i in range(4)]  # no free stream yet

    results = await asyncio.gather(*in_flight, dropper, *queued, return_exceptions=True)

    failures = results[:6]
    assert all(isinstance(e, unipush.TransportError) and e.maybe_processed for e in failures), failures
    assert "lost" in str(failures[0]) or "closed" in str(failures[0])
    # Requests that were still waiting for a stream were never sent: they went to a new connection.
    assert all(isinstance(r, Response) and r.status == 200 for r in results[6:])
    after = await send(engine, server, "after")
    assert after.status == 200
    assert server.stats.connections == 2
    assert engine.stats["reconnects"] == 1
    assert echo.seen["dropper"] == 0


async def test_timeout_raises_and_cancels_the_stream(engine: Engine, server: SandboxServer, echo, faults) -> None:
    faults.add(Fault(kind="latency", delay=0.3, target="slow"))

    with pytest.raises(unipush.TimeoutError) as caught:
        await send(engine, server, "slow", timeout=0.05)

    assert isinstance(caught.value, unipush.TransportError)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.maybe_processed is True
    assert engine.stats["in_flight"] == 0
    assert engine.stats["timeouts"] == 1
    await asyncio.sleep(0.4)
    # RST_STREAM(CANCEL) reached the server, which stopped working on it: the emulator never saw it.
    assert "slow" not in echo.seen
    assert (await send(engine, server, "next")).status == 200
    assert server.stats.connections == 1


async def test_timeout_while_waiting_for_a_stream_was_never_sent(
    make_engine, server: SandboxServer, echo, faults
) -> None:
    faults.max_concurrent_streams["echo"] = 1
    faults.add(Fault(kind="latency", delay=0.3, target="slow"))
    engine = make_engine()
    slow = asyncio.ensure_future(send(engine, server, "slow"))
    await asyncio.sleep(0.05)

    with pytest.raises(unipush.TimeoutError) as caught:
        await send(engine, server, "waiting", timeout=0.05)

    assert caught.value.maybe_processed is False
    assert (await slow).status == 200
    assert (await send(engine, server, "next")).status == 200
    assert "waiting" not in echo.seen


async def test_cancelling_the_caller_cancels_the_stream(engine: Engine, server: SandboxServer, echo, faults) -> None:
    faults.add(Fault(kind="latency", delay=0.3, target="slow"))
    task = asyncio.ensure_future(send(engine, server, "slow"))
    await asyncio.sleep(0.05)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert engine.stats["in_flight"] == 0
    await asyncio.sleep(0.4)
    assert "slow" not in echo.seen


async def test_streams_unanswered_when_the_server_shuts_down(engine: Engine, server: SandboxServer, echo) -> None:
    await send(engine, server, "warm-up")
    echo.delay = 5.0
    pending = [asyncio.ensure_future(send(engine, server, str(i))) for i in range(5)]
    # All five must be at the server (else its GOAWAY rightly sends them elsewhere): wait, don't guess.
    for _ in range(5000):
        if all(echo.seen[str(i)] for i in range(5)):
            break
        await asyncio.sleep(0.001)

    await server.close(grace=0.1)  # GOAWAY covering all five, then the socket is cut before answers
    results = await asyncio.gather(*pending, return_exceptions=True)

    assert all(isinstance(e, unipush.TransportError) and e.maybe_processed for e in results), results
    assert "GOAWAY" in str(results[0])
    assert engine.stats["resends"] == 0  # processed (or maybe): never resent by the engine


async def test_requests_never_written_go_again_when_the_connection_dies(
    engine: Engine, server: SandboxServer, echo
) -> None:
    await send(engine, server, "warm-up")
    (pool,) = engine._pools.values()
    assert isinstance(pool, Pool)
    (connection,) = pool._open
    request = asyncio.ensure_future(send(engine, server, "unsent"))
    await asyncio.sleep(0)  # the request took a stream; its frames wait for the end-of-iteration write

    connection.kill("simulated loss before the write", graceful=False)

    assert (await request).status == 200
    assert echo.seen["unsent"] == 1
    assert engine.stats["connections_opened"] == 2


async def test_an_idle_connection_closed_by_the_server_is_replaced(engine: Engine, server: SandboxServer) -> None:
    await send(engine, server, "before")
    (protocol,) = server._connections
    protocol.abort()  # e.g. a load balancer's idle timeout
    await asyncio.sleep(0.05)

    assert engine.stats["open_connections"] == 0
    assert (await send(engine, server, "after")).status == 200
    assert engine.stats["reconnects"] == 1
