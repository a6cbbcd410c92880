"""The GOAWAY / REFUSED_STREAM state machine of one ``Connection``, without TLS and without a pool.

A ``Connection`` needs only its owner protocol, an ``EngineConfig`` and an ``EngineStats``, so these
tests drive one over a plain socket pair: on the other end, the test writes exactly the frames it
wants (h2, the other HTTP/2 library, for everything a server says; GOAWAY frames by hand, since a
server-side h2 refuses to answer a stream after its own GOAWAY) and a ``RecordingOwner`` shows what
the connection handed back: which requests it resent and why, which it failed and how.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import pytest
from h2.errors import ErrorCodes

import unipush
from unipush._engine import EngineConfig, EngineStats, Response
from unipush._engine._connection import CLOSED, DRAINING, OPEN, Connection
from unipush._engine._exchange import Exchange

pytestmark = pytest.mark.anyio


@dataclass
class RecordingOwner:
    """A ``ConnectionOwner`` that only records what its connection tells it."""

    resent: list[tuple[str, list[Exchange]]] = field(default_factory=list)
    requeued: list[Exchange] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    unsent_at_close: list[Exchange] = field(default_factory=list)

    def fill(self, connection: Connection) -> None:
        pass

    def requeue(self, exchanges: list[Exchange]) -> None:
        self.requeued.extend(exchanges)

    def resend(self, exchanges: list[Exchange], why: str) -> None:
        self.resent.append((why, list(exchanges)))

    def connection_ready(self, connection: Connection) -> None:
        self.events.append("ready")

    def connection_retired(self, connection: Connection) -> None:
        self.events.append("retired")

    def connection_closed(self, connection: Connection, unsent: list[Exchange], *, was_connecting: bool) -> None:
        self.events.append("closed")
        self.unsent_at_close.extend(unsent)


class Peer:
    """The server end of the socket pair: an h2 server connection whose bytes the test sends as it likes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.requests: list[int] = []  # stream ids, in arrival order

    async def read_until(self, streams: int) -> None:
        """Read the client's frames until ``streams`` requests have arrived."""
        while len(self.requests) < streams:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            assert data, "the client closed the connection"
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    assert event.stream_id is not None
                    self.requests.append(event.stream_id)

    def answer(self, stream_id: int, status: int = 200, body: bytes = b"ok") -> bytes:
        """The frames of a whole response on ``stream_id`` (not sent yet)."""
        self.h2.send_headers(stream_id, [(b":status", str(status).encode())])
        self.h2.send_data(stream_id, body, end_stream=True)
        return self.h2.data_to_send()

    def reset(self, stream_id: int, code: ErrorCodes) -> bytes:
        """An RST_STREAM frame (not sent yet)."""
        self.h2.reset_stream(stream_id, code)
        return self.h2.data_to_send()

    async def send(self, data: bytes, *, chunk: int | None = None) -> None:
        """Write ``data``, in pieces of ``chunk`` bytes if given (each its own write and its own read)."""
        if chunk is None:
            self.writer.write(data)
            await self.writer.drain()
            return
        for start in range(0, len(data), chunk):
            self.writer.write(data[start : start + chunk])
            await self.writer.drain()
            await asyncio.sleep(0.001)  # let the client read each piece on its own


def goaway(last_stream_id: int, code: int = 0, debug: bytes = b"", *, stream_id: int = 0) -> bytes:
    """A GOAWAY frame (RFC 9113 §6.8): 9-octet header, last stream id, error code, debug data."""
    payload = last_stream_id.to_bytes(4, "big") + code.to_bytes(4, "big") + debug
    return len(payload).to_bytes(3, "big") + bytes([0x7, 0]) + stream_id.to_bytes(4, "big") + payload


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition()`` holds (at most 5 s: a hang fails the test, not CI)."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


@dataclass
class Setup:
    connection: Connection
    owner: RecordingOwner
    peer: Peer
    stats: EngineStats

    def start(self) -> Exchange:
        """Start one request on the connection, the way a pool does."""
        fields = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"peer.test"), (b":path", b"/")]
        exchange = Exchange(list(fields), b"{}", asyncio.get_running_loop().create_future())
        self.connection.start(exchange)
        return exchange


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    """A connection that is OPEN (the peer's SETTINGS arrived) over a socket pair, and its peer."""
    loop = asyncio.get_running_loop()
    client_sock, server_sock = socket.socketpair()
    owner = RecordingOwner()
    stats = EngineStats()
    connection = Connection(owner, "peer.test", EngineConfig(idle_ping_interval=0), stats, loop)
    await loop.create_connection(lambda: connection, sock=client_sock)
    reader, writer = await asyncio.open_connection(sock=server_sock)
    peer = Peer(reader, writer)
    peer.h2.initiate_connection()
    await peer.send(peer.h2.data_to_send())
    await until(lambda: connection.state == OPEN)
    assert owner.events == ["ready"]
    yield Setup(connection, owner, peer, stats)
    connection.abort()
    writer.close()


@pytest.mark.parametrize("chunk", [None, 1, 7], ids=["one-write", "byte-by-byte", "7-byte-pieces"])
async def test_goaway_resends_streams_above_the_last_and_completes_those_below(setup: Setup, chunk: int | None) -> None:
    # RFC 9113 §6.8: streams up to last_stream_id may still be answered after GOAWAY; those above
    # it were not processed and may go again elsewhere. jh2 alone would close the connection and
    # raise on the answer of stream 3; the engine reads GOAWAY from the frame headers itself, even
    # when a read cuts a frame header (or the GOAWAY) in two.
    first, second, third = setup.start(), setup.start(), setup.start()
    await setup.peer.read_until(3)
    assert setup.peer.requests == [1, 3, 5]

    answers = setup.peer.answer(1, body=b"one")
    await setup.peer.send(
        answers + goaway(3, 0, b'{"reason":"Shutdown"}') + setup.peer.answer(3, body=b"three"), chunk=chunk
    )
    await until(lambda: second.future.done())

    assert first.future.result() == Response(200, {}, b"one")
    assert second.future.result() == Response(200, {}, b"three")
    assert setup.owner.resent == [("GOAWAY", [third])]
    assert not third.future.done()  # the pool sends it again: nobody was told anything
    assert "retired" in setup.owner.events
    # Nothing left in flight: the connection says goodbye and closes.
    await until(lambda: setup.connection.state == CLOSED)
    assert setup.owner.unsent_at_close == []


async def test_goaway_with_streams_still_unanswered_keeps_them_until_they_complete(setup: Setup) -> None:
    first, second = setup.start(), setup.start()
    await setup.peer.read_until(2)

    await setup.peer.send(goaway(3, ErrorCodes.NO_ERROR))
    await until(lambda: setup.connection.state == DRAINING)
    assert setup.owner.resent == []  # both are at or below the last stream: the server will answer
    assert setup.owner.events == ["ready", "retired"]  # the pool gives a retired connection no new streams

    await setup.peer.send(setup.peer.answer(3) + setup.peer.answer(1))
    await until(lambda: first.future.done() and second.future.done())
    assert first.future.result().status == second.future.result().status == 200
    await until(lambda: setup.connection.state == CLOSED)


async def test_goaway_below_every_stream_resends_them_all(setup: Setup) -> None:
    exchanges = [setup.start() for _ in range(3)]
    await setup.peer.read_until(3)

    await setup.peer.send(goaway(0, ErrorCodes.ENHANCE_YOUR_CALM, b"slow down"))
    await until(lambda: bool(setup.owner.resent))

    assert setup.owner.resent == [("GOAWAY", exchanges)]
    assert not any(exchange.future.done() for exchange in exchanges)
    assert setup.connection.state in (DRAINING, CLOSED)  # nothing left: it is closing
    await until(lambda: setup.connection.state == CLOSED)


async def test_refused_stream_is_resent_and_other_resets_fail_as_maybe_processed(setup: Setup) -> None:
    refused, cancelled, answered = setup.start(), setup.start(), setup.start()
    await setup.peer.read_until(3)

    await setup.peer.send(
        setup.peer.reset(1, ErrorCodes.REFUSED_STREAM) + setup.peer.reset(3, ErrorCodes.CANCEL) + setup.peer.answer(5)
    )
    await until(lambda: answered.future.done())

    # RFC 9113 §8.7: REFUSED_STREAM means the server did nothing with it; any other reset may come after.
    assert setup.owner.resent == [("REFUSED_STREAM", [refused])]
    assert not refused.future.done()
    error = cancelled.future.exception()
    assert isinstance(error, unipush.TransportError)
    assert error.maybe_processed
    assert "CANCEL (0x8)" in str(error)
    assert answered.future.result().status == 200
    assert setup.connection.state == OPEN  # resets are stream errors: the connection carries on
    assert setup.connection.active == 0


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (goaway(0, stream_id=1), "GOAWAY frame on stream 1"),
        (goaway(0)[:2] + b"\x04" + goaway(0)[3:9] + b"\x00" * 4, "GOAWAY frame of 4 octets"),
        # Only the header of a 1 MiB GOAWAY: refused on the header, nothing of it waited for or buffered.
        ((1 << 20).to_bytes(3, "big") + bytes([0x7, 0]) + bytes(4), "over our SETTINGS_MAX_FRAME_SIZE"),
    ],
    ids=["on-a-stream", "too-short", "oversized"],
)
async def test_a_malformed_goaway_is_a_connection_error(setup: Setup, frame: bytes, problem: str) -> None:
    exchange = setup.start()
    await setup.peer.read_until(1)

    await setup.peer.send(frame)
    await until(lambda: setup.connection.state == CLOSED)

    error = exchange.future.exception()
    assert isinstance(error, unipush.TransportError)
    assert problem in str(error)
    assert error.maybe_processed  # it was sent; whether the server acted on it is unknown
    assert setup.owner.resent == []


async def test_a_goaway_inside_a_header_block_is_a_connection_error(setup: Setup) -> None:
    # RFC 9113 §6.10: between HEADERS without END_HEADERS and its CONTINUATION, no other frame.
    exchange = setup.start()
    await setup.peer.read_until(1)
    block = b"\x88"  # HPACK static table entry 8, ":status: 200" (RFC 7541 Appendix A)
    open_headers = (0).to_bytes(3, "big") + bytes([0x1, 0x0]) + (1).to_bytes(4, "big")  # no END_HEADERS
    continuation = len(block).to_bytes(3, "big") + bytes([0x9, 0x4]) + (1).to_bytes(4, "big") + block

    await setup.peer.send(open_headers + goaway(1) + continuation)
    await until(lambda: setup.connection.state == CLOSED)

    error = exchange.future.exception()
    assert isinstance(error, unipush.TransportError)
    assert "inside a header block" in str(error)


async def test_requests_whose_frames_never_left_go_back_to_the_pool_when_the_connection_dies(setup: Setup) -> None:
    sent = setup.start()
    await setup.peer.read_until(1)
    unsent = setup.start()  # its frames wait for the end-of-iteration write

    setup.connection.kill("simulated loss before the write")

    assert setup.owner.unsent_at_close == [unsent]
    assert not unsent.future.done()
    error = sent.future.exception()
    assert isinstance(error, unipush.TransportError)
    assert error.maybe_processed
