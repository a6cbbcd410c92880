"""Send throughput, CPU and memory of unipush against the local sandbox (see benchmarks/README.md).

    python benchmarks/bench_send.py [--n 2000] [--concurrency 100,1000,5000] [--providers apns,fcm,webpush]
                                    [--modes h2-loop,jh2-loop,engine,async,sync] [--streams-per-connection 50]
                                    [--repeat 3] [--stream-million] [--million 1000000] [--json results.json]

Three kinds of process take part, so that each number belongs to one of them:

* the **sandbox** (``unipush.sandbox.Sandbox``) runs in its own process for the whole run; its CPU
  is read from ``/proc/<pid>/stat`` around every timed region and reported per notification;
* each **case** (one provider x one sender x one concurrency) runs in a fresh process, so its peak
  RSS is its own, and measures CPU with ``time.process_time()`` (all of its threads, nothing else);
* this **driver** starts the others, collects their JSON answers and prints the table.

The senders: ``h2-loop`` and ``jh2-loop`` are the reference rows, the same bare asyncio loop on h2
and on jh2 (the HTTP/2 library the engine uses), over as many TLS connections as the case has,
sending requests rendered before the clock starts (Web Push: rendered, i.e. encrypted, inside the
timed loop, since encryption is inherent to every message); ``engine`` sends the same requests through
unipush's own HTTP/2 engine; ``async`` is ``AsyncPushClient.send_many``; ``sync`` is
``PushClient.send_many``; ``stream`` pushes generated APNs targets through ``AsyncPushClient.stream``.

Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import secrets
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import jh2.config
import jh2.connection
import jh2.events

PROVIDERS = ("apns", "fcm", "webpush")
MODES = ("h2-loop", "jh2-loop", "engine", "async", "sync")
REFERENCE = "jh2-loop"  # the row the targets are measured against
ENCRYPTION_SAMPLE = 500  # Web Push messages rendered alone (untimed region) to measure the encryption
WARMUP = 500  # sends before the clock starts (at least one per stream): TLS, JWT / OAuth / VAPID, first calls
SUBSCRIPTIONS = 2000  # Web Push subscriptions the sandbox makes; targets cycle through them
STREAM_CHECKPOINTS = (10_000, 100_000, 250_000, 500_000, 1_000_000, 2_000_000, 5_000_000)
CLK_TCK = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


# -- process facts -------------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5): utime, stime


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (``/proc/stat``: everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def proc_status_kib(field_name: str, pid: int | str = "self") -> int:
    """A ``kB`` line of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the sandbox process -------------------------------------------------------------------------


def serve() -> int:
    """Run the sandbox until stdin closes; print its info (one JSON line) first.

    Commands on stdin, one per line: ``stats`` prints the servers' counters as a JSON line;
    ``streams <n>`` makes the servers advertise MAX_CONCURRENT_STREAMS = n on new connections. The inbox
    is emptied every half second: the benchmark never reads it and a million deliveries would
    otherwise pile up here.
    """
    from unipush.sandbox import Sandbox, install_hpack_cache

    install_hpack_cache()  # this process is only a sandbox, as under `unipush sandbox`
    with Sandbox() as sandbox:
        # Every case runs in a fresh process that signs its own APNs provider token; Apple (and the
        # sandbox) refuse a new token within 20 minutes of the last one, so that rule is off here.
        sandbox.apns.token_update_interval = 0
        subscriptions = [sandbox.webpush.subscribe() for _ in range(SUBSCRIPTIONS)]
        subscriptions_path = sandbox.directory / "bench-subscriptions.json"
        subscriptions_path.write_text(json.dumps(subscriptions))
        info = dict(sandbox.info(), pid=os.getpid(), subscriptions_path=str(subscriptions_path))
        print(json.dumps(info), flush=True)

        stop = threading.Event()

        def clear_inbox() -> None:
            while not stop.wait(0.5):
                sandbox.inbox.clear()

        cleaner = threading.Thread(target=clear_inbox, daemon=True)
        cleaner.start()
        try:
            for line in sys.stdin:
                command, _, argument = line.strip().partition(" ")
                if command == "stats":
                    stats = {name: _jsonable(vars(server.stats)) for name, server in sandbox.servers.items()}
                    print(json.dumps(stats), flush=True)
                elif command == "streams":
                    sandbox.set_max_concurrent_streams(int(argument))
                    print("{}", flush=True)
        finally:
            stop.set()
            cleaner.join()
    return 0


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stats.items() if isinstance(value, (int, float, str))}


class SandboxProcess:
    """The sandbox in a child process (``bench_send.py --_serve``), started and stopped by the driver."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--_serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process exited before printing its info")
        self.info: dict[str, Any] = json.loads(line)

    def command(self, line: str) -> dict[str, Any]:
        """Send one command line, return its JSON answer."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(line + "\n")
        stdin.flush()
        result: dict[str, Any] = json.loads(stdout.readline())
        return result

    def stats(self) -> dict[str, Any]:
        """The servers' counters (streams, responses, resets, goaways...)."""
        return self.command("stats")

    def set_max_streams(self, n: int) -> None:
        """MAX_CONCURRENT_STREAMS for the connections opened from now on."""
        self.command(f"streams {n}")

    def close(self) -> None:
        """Close stdin (the sandbox stops) and wait."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- what is sent ----------------------------------------------------------------------------------


def notification() -> Any:
    """The notification every case sends: a typical alert with a deep link and a badge."""
    from unipush import Notification

    return Notification(
        title="Order shipped",
        body="#1234 is on its way",
        deep_link="https://shop.example/o/1234",
        badge=1,
        sound="default",
        ttl=3600,
    )


def apns_tokens(count: int, start: int = 0) -> Iterator[str]:
    """Distinct, well-formed 64-hex-digit device tokens (the sandbox accepts tokens it never issued)."""
    prefix = secrets.token_hex(24)
    for i in range(start, start + count):
        yield f"{prefix}{i:016x}"


def fcm_tokens(count: int) -> Iterator[str]:
    """Distinct, well-formed ~160-character registration tokens."""
    prefix = secrets.token_urlsafe(16)[:22] + ":APA91b" + secrets.token_urlsafe(96)[:120]
    for i in range(count):
        yield f"{prefix}{i:012d}"


def make_targets(provider: str, count: int, info: dict[str, Any]) -> list[Any]:
    """``count`` distinct target objects (Web Push: fresh objects cycling through the subscriptions)."""
    from unipush.apns import ApnsDevice
    from unipush.fcm import FcmDevice
    from unipush.webpush import WebPushSubscription

    if provider == "apns":
        return [ApnsDevice(token) for token in apns_tokens(count)]
    if provider == "fcm":
        return [FcmDevice(token) for token in fcm_tokens(count)]
    subscriptions = json.loads(Path(info["subscriptions_path"]).read_text())
    return [WebPushSubscription.from_dict(subscriptions[i % len(subscriptions)]) for i in range(count)]


def provider_config(provider: str, info: dict[str, Any]) -> Any:
    """The provider config pointing at the sandbox (its key, service account or VAPID key)."""
    from unipush.sandbox import configs_from_info

    return configs_from_info(info)[provider]


# -- one measurement -------------------------------------------------------------------------------


@dataclass
class Measurement:
    """What one case process reports."""

    provider: str
    mode: str
    concurrency: int
    n: int
    connections: int = 1
    ok: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    user_s: float = 0.0
    system_s: float = 0.0
    sandbox_cpu_s: float = 0.0
    others_cpu_s: float = 0.0  # CPU used meanwhile by every other process on the machine
    peak_rss_mib: float = 0.0
    baseline_rss_mib: float = 0.0
    rss_samples: dict[str, float] = field(default_factory=dict)
    encryption_us: float = 0.0  # Web Push: CPU per message of rendering alone (ECDH, HKDF, AES-GCM, VAPID)

    @property
    def rate(self) -> float:
        """Notifications per second."""
        return self.n / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us(self) -> float:
        """Client CPU µs per notification."""
        return self.cpu_s / self.n * 1e6 if self.n else 0.0

    @property
    def others_percent(self) -> float:
        """CPU used by unrelated processes during the timed region, in % of the whole machine."""
        return 100 * self.others_cpu_s / (self.wall_s * (os.cpu_count() or 1)) if self.wall_s else 0.0

    @property
    def sandbox_us(self) -> float:
        """Sandbox CPU µs per notification."""
        return self.sandbox_cpu_s / self.n * 1e6 if self.n else 0.0


class Clock:
    """Wall, own-CPU and sandbox-CPU time over the timed region."""

    def __init__(self, sandbox_pid: int) -> None:
        self.sandbox_pid = sandbox_pid
        self.wall = self.cpu = self.sandbox = self.machine = 0.0
        self.times = os.times()

    def start(self) -> None:
        gc.collect()
        self.machine = machine_busy_seconds()
        self.sandbox = proc_cpu_seconds(self.sandbox_pid)
        self.times = os.times()
        self.cpu = time.process_time()
        self.wall = time.perf_counter()

    def stop(self, into: Measurement) -> None:
        into.wall_s = time.perf_counter() - self.wall
        into.cpu_s = time.process_time() - self.cpu
        times = os.times()
        into.user_s = times.user - self.times.user
        into.system_s = times.system - self.times.system
        into.sandbox_cpu_s = proc_cpu_seconds(self.sandbox_pid) - self.sandbox
        machine = machine_busy_seconds() - self.machine
        into.others_cpu_s = max(0.0, machine - into.cpu_s - into.sandbox_cpu_s)


def run_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one (provider, sender, concurrency) in this fresh process; returns the measurement as a dict."""
    info: dict[str, Any] = spec["info"]
    m = Measurement(
        provider=spec["provider"],
        mode=spec["mode"],
        concurrency=spec["concurrency"],
        n=spec["n"],
        connections=spec["connections"],
    )
    case = Case(info, m, Clock(int(info["pid"])), spec.get("profile"))
    m.baseline_rss_mib = proc_status_kib("VmRSS") / 1024
    if m.mode == "stream":
        asyncio.run(stream_case(case))
    else:
        warmup = max(WARMUP, m.concurrency)  # every connection is open before the clock starts
        targets = make_targets(m.provider, m.n + warmup, info)
        case.warmup, case.timed = targets[:warmup], targets[warmup:]
        del targets
        if m.mode in LIBRARIES:
            asyncio.run(floor_case(case))
        elif m.mode == "engine":
            asyncio.run(engine_case(case))
        elif m.mode == "async":
            asyncio.run(async_case(case))
        elif m.mode == "sync":
            sync_case(case)
        else:
            raise ValueError(f"unknown sender {m.mode!r}")
    m.peak_rss_mib = peak_rss_mib()
    return asdict(m)


@dataclass
class Case:
    """Everything one case process works with."""

    info: dict[str, Any]
    m: Measurement
    clock: Clock
    profile_path: str | None
    warmup: list[Any] = field(default_factory=list)
    timed: list[Any] = field(default_factory=list)

    def client_kwargs(self) -> dict[str, Any]:
        """Arguments for ``PushClient``/``AsyncPushClient``: one provider, the sandbox CA, the case's shape."""
        return {
            self.m.provider: provider_config(self.m.provider, self.info),
            "verify": self.info["ca_path"],
            "concurrency": self.m.concurrency,
            "connections_per_origin": self.m.connections,
            # No per-request timeout: with thousands in flight against a sandbox on a busy machine a
            # request may wait longer than the default 30 s for its turn, and a timeout is a failure.
            "timeout": None,
        }

    @contextmanager
    def timed_region(self) -> Iterator[None]:
        """Clock (and optionally cProfile, calling thread only) the code inside."""
        profile: Any = None
        if self.profile_path is not None:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        self.clock.start()
        try:
            yield
        finally:
            self.clock.stop(self.m)
            if profile is not None:
                profile.disable()
                profile.dump_stats(self.profile_path)


# (a) the floor: a bare asyncio + h2 loop ------------------------------------------------------------


class _Library:
    """The three modules of an h2-compatible library the bare loop uses (h2 or jh2: the same API)."""

    def __init__(self, config: Any, connection: Any, events: Any) -> None:
        self.config = config
        self.connection = connection
        self.events = events


LIBRARIES = {
    "h2-loop": _Library(h2.config, h2.connection, h2.events),
    "jh2-loop": _Library(jh2.config, jh2.connection, jh2.events),
}


class FloorConnection:
    """One HTTP/2 connection driven the obvious way: h2 or jh2 on asyncio streams, a reader task, a future each."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lib: _Library) -> None:
        self.reader = reader
        self.writer = writer
        self.lib = lib
        self.h2 = lib.connection.H2Connection(lib.config.H2Configuration(client_side=True, header_encoding=None))
        self.responses: dict[int, asyncio.Future[int]] = {}
        self.statuses: dict[int, int] = {}
        self.window_opened = asyncio.Event()
        self.settled = asyncio.Event()  # the server's SETTINGS are in (a PING round trip)
        self.h2.initiate_connection()
        self.h2.ping(b"settings")
        self.writer.write(self.h2.data_to_send())
        self.reading = asyncio.create_task(self.read_loop())

    @classmethod
    async def open(cls, url: str, ssl_context: ssl.SSLContext, lib: _Library) -> FloorConnection:
        """Connect (TLS, ALPN h2) and wait until the server's SETTINGS are applied."""
        parts = urlsplit(url)
        assert parts.hostname is not None
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 443, ssl=ssl_context)
        connection = cls(reader, writer, lib)
        await connection.settled.wait()
        return connection

    @property
    def max_concurrent_streams(self) -> int:
        """The server's SETTINGS_MAX_CONCURRENT_STREAMS."""
        return int(self.h2.remote_settings.max_concurrent_streams)

    async def read_loop(self) -> None:
        """Feed received bytes to h2 and settle the futures of finished streams."""
        while True:
            data = await self.reader.read(65536)
            if not data:
                break
            events = self.lib.events
            for event in self.h2.receive_data(data):
                if isinstance(event, events.ResponseReceived):
                    self.statuses[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, events.DataReceived):
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, events.StreamEnded):
                    future = self.responses.pop(event.stream_id)
                    if not future.done():
                        future.set_result(self.statuses.pop(event.stream_id))
                elif isinstance(event, events.StreamReset):
                    future = self.responses.pop(event.stream_id)
                    if not future.done():
                        future.set_exception(ConnectionError(f"stream reset: {event.error_code!r}"))
                elif isinstance(event, (events.WindowUpdated, events.RemoteSettingsChanged)):
                    self.window_opened.set()
                elif isinstance(event, events.PingAckReceived):
                    self.settled.set()
            outgoing = self.h2.data_to_send()
            if outgoing:
                self.writer.write(outgoing)
        for future in self.responses.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))

    async def request(self, headers: list[tuple[str, str]], body: bytes) -> int:
        """Send one request, honouring flow control; return the response status."""
        h2_conn = self.h2
        stream_id = h2_conn.get_next_available_stream_id()
        h2_conn.send_headers(stream_id, headers, end_stream=not body)
        view = memoryview(body)
        while view:
            window = min(h2_conn.local_flow_control_window(stream_id), h2_conn.max_outbound_frame_size)
            if window <= 0:
                self.writer.write(h2_conn.data_to_send())
                self.window_opened.clear()
                await self.window_opened.wait()
                continue
            chunk, view = view[:window], view[window:]
            h2_conn.send_data(stream_id, chunk.tobytes(), end_stream=not view)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.responses[stream_id] = future
        self.writer.write(h2_conn.data_to_send())
        await self.writer.drain()
        return await future

    async def close(self) -> None:
        """GOAWAY and close."""
        self.h2.close_connection()
        self.writer.write(self.h2.data_to_send())
        self.writer.close()
        with suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
        self.reading.cancel()


def h2_headers(request: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    """(origin, HTTP/2 header list, body) of a ``PreparedRequest``."""
    parts = urlsplit(request.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = [(":method", request.method), (":scheme", parts.scheme), (":authority", parts.netloc), (":path", path)]
    headers.extend((name.lower(), value) for name, value in request.headers.items())
    return f"{parts.scheme}://{parts.netloc}", headers, request.body


async def run_bounded(items: Iterable[T], limit: int, one: Callable[[T], Awaitable[int]]) -> int:
    """Run ``one(item)`` for every item, at most ``limit`` at a time (a semaphore); count 2xx answers."""
    semaphore = asyncio.Semaphore(limit)
    tasks: set[asyncio.Task[None]] = set()
    ok = 0

    async def run(item: T) -> None:
        nonlocal ok
        try:
            status = await one(item)
            if 200 <= status < 300:
                ok += 1
        finally:
            semaphore.release()

    for item in items:
        await semaphore.acquire()
        task = asyncio.create_task(run(item))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return ok


class Renderer:
    """Renders and authorizes requests the way the client would, without sending anything.

    For FCM it attaches the OAuth token (fetched once, before any clock starts); APNs and VAPID sign
    inside ``render``. Web Push is rendered per message inside the timed loop (``render_now``), since
    its encryption is inherent to every message.
    """

    def __init__(self, case: Case) -> None:
        from unipush import AsyncPushClient
        from unipush._transport import make_ssl_context

        self.provider = case.m.provider
        self.config = provider_config(self.provider, case.info)
        self.client = AsyncPushClient(**{self.provider: self.config}, verify=case.info["ca_path"])
        self.ssl_context = make_ssl_context(case.info["ca_path"])
        self.notification = notification()

    async def prebuilt(self, targets: Iterable[Any]) -> list[Any]:
        """``PreparedRequest``s with their credential, for the targets."""
        built = []
        for target in targets:
            request = self.client.render(self.notification, target)
            if self.provider == "fcm":
                request = await self.config.authorize(request, refresh=False, ssl_context=self.ssl_context)
            built.append(request)
        return built

    def render_now(self, target: Any) -> Any:
        """One Web Push request, encrypted and VAPID-signed now."""
        return self.config.prepare(self.notification, target, now=datetime.now(timezone.utc))


async def run_prepared(
    case: Case,
    renderer: Renderer,
    limit: int,
    send: Callable[[Any], Awaitable[int]],
    convert: Callable[[Any], Any] = lambda request: request,
) -> None:
    """Warm up, then time ``send(convert(request))`` over the case's targets.

    The requests (and their ``convert``-ed form) are built before the clock starts, except Web Push's,
    which are rendered inside the timed loop.
    """
    m = case.m
    if m.provider == "webpush":

        async def render_and_send(target: Any) -> int:
            return await send(convert(renderer.render_now(target)))

        await run_bounded(case.warmup, limit, render_and_send)
        # What the encryption and VAPID signature alone cost in this process, so that the loops'
        # rows (which render inside the timed loop) can be split into transport and encryption.
        sample = case.timed[:ENCRYPTION_SAMPLE]
        gc.collect()
        started = time.process_time()
        for target in sample:
            renderer.render_now(target)
        m.encryption_us = (time.process_time() - started) / len(sample) * 1e6
        with case.timed_region():
            m.ok = await run_bounded(case.timed, limit, render_and_send)
    else:
        await run_bounded([convert(r) for r in await renderer.prebuilt(case.warmup)], limit, send)
        prebuilt = [convert(r) for r in await renderer.prebuilt(case.timed)]
        with case.timed_region():
            m.ok = await run_bounded(prebuilt, limit, send)


async def floor_case(case: Case) -> None:
    """(a) The reference rows: ``connections`` bare h2 (or jh2) connections, a semaphore of ``concurrency``."""
    m = case.m
    renderer = Renderer(case)
    ssl_context = renderer.ssl_context
    ssl_context.set_alpn_protocols(["h2"])
    origin = h2_headers(renderer.client.render(renderer.notification, case.warmup[0]))[0]
    lib = LIBRARIES[m.mode]
    connections = [await FloorConnection.open(origin, ssl_context, lib) for _ in range(m.connections)]
    limit = min(m.concurrency, sum(c.max_concurrent_streams for c in connections))

    async def send(item: tuple[str, list[tuple[str, str]], bytes]) -> int:
        connection = min(connections, key=lambda c: len(c.responses))  # the least busy one
        return await connection.request(item[1], item[2])

    await run_prepared(case, renderer, limit, send, h2_headers)
    for connection in connections:
        await connection.close()


async def engine_case(case: Case) -> None:
    """The floor's requests through unipush's own HTTP/2 engine instead of bare h2 (no client around it)."""
    from unipush._engine import Engine

    renderer = Renderer(case)
    engine = Engine(ssl_context=renderer.ssl_context, connections_per_origin=case.m.connections)

    async def send(request: Any) -> int:
        response = await engine.request(request.method, request.url, request.headers, request.body, timeout=None)
        return response.status

    await run_prepared(case, renderer, case.m.concurrency, send)
    await engine.aclose()


# (b) AsyncPushClient.send_many ---------------------------------------------------------------------


async def async_case(case: Case) -> None:
    """(b) ``AsyncPushClient.send_many`` of the timed targets."""
    from unipush import AsyncPushClient

    n = notification()
    async with AsyncPushClient(**case.client_kwargs()) as client:
        await client.send_many(n, case.warmup)
        with case.timed_region():
            batch = await client.send_many(n, case.timed)
        case.m.ok = len(batch.succeeded)


# (c) PushClient.send_many --------------------------------------------------------------------------


def sync_case(case: Case) -> None:
    """(c) ``PushClient.send_many`` of the timed targets."""
    from unipush import PushClient

    n = notification()
    with PushClient(**case.client_kwargs()) as client:
        client.send_many(n, case.warmup)
        with case.timed_region():
            batch = client.send_many(n, case.timed)
        case.m.ok = len(batch.succeeded)


# RSS while streaming generated targets ---------------------------------------------------------------


async def stream_case(case: Case) -> None:
    """Stream ``n`` generated APNs targets through ``AsyncPushClient.stream``; sample VmRSS on the way."""
    from unipush import AsyncPushClient
    from unipush.apns import ApnsDevice

    m = case.m
    n = notification()

    def pairs(count: int, start: int = 0) -> Iterator[tuple[Any, Any]]:
        for token in apns_tokens(count, start):
            yield n, ApnsDevice(token)

    async with AsyncPushClient(**case.client_kwargs()) as client:
        async for _ in client.stream(pairs(WARMUP)):
            pass
        checkpoints = [c for c in STREAM_CHECKPOINTS if c <= m.n]
        done = 0
        with case.timed_region():
            async for result in client.stream(pairs(m.n, WARMUP)):
                done += 1
                m.ok += result.ok
                if checkpoints and done == checkpoints[0]:
                    m.rss_samples[str(checkpoints.pop(0))] = proc_status_kib("VmRSS") / 1024
    m.rss_samples["end"] = proc_status_kib("VmRSS") / 1024


# -- the driver --------------------------------------------------------------------------------------


def measure(sandbox: SandboxProcess, spec: dict[str, Any]) -> Measurement:
    """Run one case in a fresh process (``bench_send.py --_case``) and parse its answer.

    The sandbox first advertises MAX_CONCURRENT_STREAMS = concurrency / connections, so the client
    spreads its requests over ``connections`` connections (the engine opens another one only when
    the streams of the first run out).
    """
    sandbox.set_max_streams(-(-spec["concurrency"] // spec["connections"]))
    spec = dict(spec, info=sandbox.info)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--_case", handle.name], check=True, stdout=subprocess.PIPE, text=True
        ).stdout
    finally:
        os.unlink(handle.name)
    data = json.loads(out.strip().splitlines()[-1])
    return Measurement(**data)


def table(rows: Sequence[Measurement]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| provider | sender | in flight | notif/s | client CPU µs/notif (kernel) | client busy % | peak RSS MiB "
        "| sandbox CPU µs/notif | sandbox busy % | others % | ok |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.provider} | {r.mode} | {r.concurrency} | {r.rate:,.0f} "
            f"| {r.cpu_us:.1f} ({r.system_s / r.n * 1e6:.0f}) | {100 * r.cpu_s / r.wall_s:.0f} "
            f"| {r.peak_rss_mib:.1f} | {r.sandbox_us:.1f} | {100 * r.sandbox_cpu_s / r.wall_s:.0f} "
            f"| {r.others_percent:.0f} | {r.ok}/{r.n} |"
        )
    return "\n".join(lines)


def ratios(rows: Sequence[Measurement]) -> tuple[str, bool]:
    """The target ratios per (provider, in flight) as a Markdown table, and whether all are met.

    Every ratio is of two rows of the same run (the machine is shared and noisy: ratios within a run
    hold up far better than absolute figures across runs).
    """
    by_key = {(r.provider, r.mode, r.concurrency): r for r in rows}
    lines = [
        "| provider | in flight | jh2 / h2 loop | engine / jh2 loop | async / jh2 loop (≤ 1.2) "
        "| sync / async (≤ 1.1) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    met = True
    keys = sorted({(r.provider, r.concurrency) for r in rows}, key=lambda k: (PROVIDERS.index(k[0]), k[1]))
    for provider, concurrency in keys:

        def row(mode: str) -> Measurement | None:
            return by_key.get((provider, mode, concurrency))  # noqa: B023 - used inside this iteration only

        cells = []
        for num, den, target in (
            (row("jh2-loop"), row("h2-loop"), None),
            (row("engine"), row(REFERENCE), None),
            (row("async"), row(REFERENCE), 1.2),
            (row("sync"), row("async"), 1.1),
        ):
            if num is None or den is None or not den.cpu_us:
                cells.append("–")
                continue
            ratio = num.cpu_us / den.cpu_us
            if target is None:
                cells.append(f"{ratio:.2f}")
                continue
            met = met and ratio <= target
            cells.append(f"{ratio:.2f} {'✓' if ratio <= target else '✗'}")
        if all(cell == "–" for cell in cells):
            continue  # no pair of senders to compare at this level (e.g. a run without the loops)
        label = provider
        reference = row(REFERENCE)
        if provider == "webpush" and reference is not None and reference.encryption_us:
            label = f"webpush (loops + encryption: {reference.encryption_us:.0f} µs of it)"
        lines.append(f"| {label} | {concurrency} | " + " | ".join(cells) + " |")
    scaling, scaling_met = in_flight_scaling(rows)
    text = "\n".join(lines) if len(lines) > 2 else ""
    return "\n\n".join(part for part in (text, scaling) if part), met and scaling_met


def in_flight_scaling(rows: Sequence[Measurement], base: int = 100, limit: float = 1.1) -> tuple[str, bool]:
    """CPU per notification at each in-flight level over the same sender's at ``base`` (target ≤ ``limit``)."""
    by_key = {(r.provider, r.mode, r.concurrency): r for r in rows}
    levels = sorted({r.concurrency for r in rows if r.concurrency != base})
    if not levels or not any(r.concurrency == base for r in rows):
        return "", True
    lines = [
        "| provider | sender | " + " | ".join(f"{c:,} / {base} in flight (≤ {limit})" for c in levels) + " |",
        "|---|---|" + "--:|" * len(levels),
    ]
    met = True
    for provider in PROVIDERS:
        for mode in MODES:
            reference = by_key.get((provider, mode, base))
            if reference is None:
                continue
            cells = []
            for level in levels:
                other = by_key.get((provider, mode, level))
                if other is None:
                    cells.append("–")
                    continue
                ratio = other.cpu_us / reference.cpu_us
                if mode in ("engine", "async", "sync"):
                    met = met and ratio <= limit
                    cells.append(f"{ratio:.2f} {'✓' if ratio <= limit else '✗'}")
                else:
                    cells.append(f"{ratio:.2f}")
            lines.append(f"| {provider} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines), met


def stream_report(small: Measurement, large: Measurement) -> tuple[str, bool]:
    """RSS(large) − RSS(small) for the streaming case, with the in-run samples."""
    delta = large.peak_rss_mib - small.peak_rss_mib
    samples = ", ".join(f"{k}: {v:.1f}" for k, v in large.rss_samples.items())
    ok = delta <= 30
    rows = "\n".join(
        f"| {r.n:,} | {r.rate:,.0f} | {r.cpu_us:.1f} | {r.peak_rss_mib:.1f} | {r.sandbox_us:.1f} | {r.ok:,} |"
        for r in (small, large)
    )
    text = (
        f"Streaming generated APNs targets through AsyncPushClient.stream ({large.concurrency} in flight):\n\n"
        "| targets | notif/s | client CPU µs/notif | peak RSS MiB | sandbox CPU µs/notif | ok |\n"
        "|--:|--:|--:|--:|--:|--:|\n"
        f"{rows}\n\n"
        f"RSS({large.n:,}) − RSS({small.n:,}) = {delta:+.1f} MiB (target ≤ 30) {'✓' if ok else '✗'}. "
        f"VmRSS (MiB) in the {large.n:,} run after k results: {samples}."
    )
    return text, ok


def machine_facts() -> str:
    """nproc, CPU model, kernel, Python, key library versions."""
    import platform
    from importlib.metadata import version

    model = "unknown CPU"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    libs = ", ".join(f"{name} {version(name)}" for name in ("unipush", "jh2", "h2", "hpack", "cryptography"))
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), {libs}"
    )


def report(payload: dict[str, Any]) -> str:
    """The Markdown report of a run (``payload`` as written by ``--json``)."""
    rows = [Measurement(**r) for r in payload["rows"]]
    streams = [Measurement(**r) for r in payload["stream"]]
    args = payload["args"]
    ratio_text, met = ratios(rows)
    out: list[str] = [
        f"Machine: {payload['machine']}",
        f"{max(r.n for r in rows) if rows else args['n']:,} notifications per case, "
        f"{args['streams_per_connection']} streams per HTTP/2 connection (the sandbox's MAX_CONCURRENT_STREAMS)"
        + (f", median of {args['repeat']} runs by client CPU." if args.get("repeat", 1) > 1 else "."),
        "",
        table(rows),
        "",
        ratio_text,
        "",
    ]
    if len(streams) == 2:
        stream_text, stream_ok = stream_report(streams[0], streams[1])
        out += [stream_text, ""]
        met = met and stream_ok
    everything = [*rows, *streams]
    if everything:
        busiest = max(everything, key=lambda r: r.others_percent)
        wall = sum(r.wall_s for r in everything)
        others = 100 * sum(r.others_cpu_s for r in everything) / wall / (os.cpu_count() or 1)
        out.append(
            f"Other processes used {others:.0f}% of the machine during the timed regions (at most "
            f"{busiest.others_percent:.0f}%, in {busiest.provider} {busiest.mode} {busiest.concurrency}); "
            "rerun on a quiet machine if that is high."
        )
    stats: dict[str, dict[str, Any]] = payload["sandbox_stats"]
    responses = sum(int(s.get("responses", 0)) for s in stats.values())
    resets = sum(int(s.get("resets", 0)) for s in stats.values())
    out.append(
        f"Sandbox (its own process): {responses:,} responses, {resets} stream resets. "
        f"All targets met: {'yes' if met else 'no'}."
    )
    return "\n".join(out)


def _csv(text: str, allowed: Sequence[str] | None, parser: argparse.ArgumentParser, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        if allowed is not None and item not in allowed:
            parser.error(f"unknown {what} {item!r}; expected some of {','.join(allowed)}")
    return items


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with the hidden options, the sandbox or one case)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--n",
        type=int,
        default=2000,
        help="notifications per case, at least 2 x the largest in flight, the same for all (default 2000)",
    )
    parser.add_argument(
        "--concurrency", default="100,1000,5000", help="requests in flight, comma-separated (100,1000,5000)"
    )
    parser.add_argument("--providers", default=",".join(PROVIDERS), help="subset of apns,fcm,webpush")
    parser.add_argument("--modes", default=",".join(MODES), help="subset of " + ",".join(MODES))
    parser.add_argument(
        "--streams-per-connection",
        type=int,
        default=50,
        help="MAX_CONCURRENT_STREAMS the sandbox advertises; connections per case = in flight / this (default 50)",
    )
    parser.add_argument("--stream-million", action="store_true", help="also stream --million targets (minutes)")
    parser.add_argument("--million", type=int, default=1_000_000, help="targets for --stream-million")
    parser.add_argument("--repeat", type=int, default=3, help="run each case this many times, keep the median (3)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw measurements as JSON")
    parser.add_argument("--from-json", metavar="PATH", help="print the report of a run saved with --json; run nothing")
    parser.add_argument("--profile", metavar="DIR", help="cProfile each timed region (calling thread) into DIR")
    parser.add_argument("--_serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_case", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._serve:
        return serve()
    if args._case:
        print(json.dumps(run_case(json.loads(Path(args._case).read_text()))), flush=True)
        return 0

    if args.from_json:
        print(report(json.loads(Path(args.from_json).read_text())))
        return 0
    providers = _csv(args.providers, PROVIDERS, parser, "provider")
    modes = _csv(args.modes, MODES, parser, "sender")
    concurrencies = [int(c) for c in _csv(args.concurrency, None, parser, "concurrency")]
    if args.n < 1 or args.streams_per_connection < 1 or args.repeat < 1 or min(concurrencies, default=0) < 1:
        parser.error("--n, --streams-per-connection, --repeat and --concurrency must be positive")
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)

    # One count for every case of the run, at least twice the largest in-flight level: cases that
    # differ only in how many are in flight must not also differ in how many they send (the number
    # of requests held and the garbage collector's work change with it).
    n = max(args.n, 2 * max(concurrencies))
    log = sys.stderr
    print(f"machine: {machine_facts()}", file=log)
    sandbox = SandboxProcess()
    rows: list[Measurement] = []
    streams: list[Measurement] = []
    try:
        print(f"sandbox: pid {sandbox.info['pid']}", file=log)
        for provider in providers:
            for concurrency in concurrencies:
                for mode in modes:
                    spec: dict[str, Any] = {
                        "provider": provider,
                        "mode": mode,
                        "concurrency": concurrency,
                        "n": n,
                        "connections": -(-concurrency // args.streams_per_connection),
                    }
                    if args.profile:
                        spec["profile"] = str(Path(args.profile) / f"{provider}-{mode}-{concurrency}.prof")
                    runs = []
                    for _ in range(args.repeat):
                        runs.append(measure(sandbox, spec))
                        _progress(runs[-1], log)
                    rows.append(sorted(runs, key=lambda r: r.cpu_us)[len(runs) // 2])
        if args.stream_million:
            for count in (10_000, args.million):
                stream_spec = {
                    "provider": "apns",
                    "mode": "stream",
                    "concurrency": min(concurrencies),
                    "n": count,
                    "connections": -(-min(concurrencies) // args.streams_per_connection),
                }
                streams.append(measure(sandbox, stream_spec))
                _progress(streams[-1], log)
        server_stats = sandbox.stats()
    finally:
        sandbox.close()

    payload = {
        "machine": machine_facts(),
        "args": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        "rows": [asdict(r) for r in rows],
        "stream": [asdict(r) for r in streams],
        "sandbox_stats": server_stats,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2))
    print(report(payload))
    return 0


def _progress(row: Measurement, out: IO[str]) -> None:
    print(
        f"  {row.provider:<8} {row.mode:<6} c={row.concurrency:<4} n={row.n:<8} {row.rate:>8,.0f}/s "
        f"client {row.cpu_us:6.1f} µs ({100 * row.cpu_s / row.wall_s:3.0f}%)  "
        f"sandbox {row.sandbox_us:6.1f} µs ({100 * row.sandbox_cpu_s / row.wall_s:3.0f}%)  "
        f"peak RSS {row.peak_rss_mib:6.1f} MiB  ok {row.ok}  others {row.others_percent:3.0f}%",
        file=out,
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
