"""``ProcessPool``: send from every core of one machine, through a local pool of worker processes.

One Python process sends on about one core (the GIL). ``ProcessPool`` runs ``processes`` workers
(``concurrent.futures.ProcessPoolExecutor`` on a ``spawn`` context); an initializer builds one
long-lived ``PushClient`` per worker from a picklable factory, so connections and credentials are
reused by every chunk the worker sends. The parent pulls the input lazily, cuts it into chunks of
``chunk_size`` pairs and keeps at most ``chunks_in_flight`` chunks out, so a generator of a million
targets is never materialised; results come back per chunk and are yielded as ``SendResult``s whose
``target`` is the very object the caller passed.

Delivery semantics when a worker dies (killed, out of memory, a crash in a C extension): the pool
cannot tell which requests of the chunks then in flight reached the provider, so every target of
those chunks gets a failed result whose ``error`` is a ``WorkerCrashedError`` (``maybe_processed``):
nothing is resent behind the caller's back, so nothing is sent twice, and nothing is lost silently
either. A fresh pool then sends the rest of the input.
"""

from __future__ import annotations

import copyreg
import dataclasses
import io
import multiprocessing
import multiprocessing.util
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from itertools import islice
from multiprocessing.synchronize import Event
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar

from unipush._errors import ConfigurationError, UnipushError, WorkerCrashedError
from unipush._model import Notification
from unipush._results import SendResult
from unipush._sync import PushClient
from unipush._targets import Target

__all__ = ["ProcessPool"]

Tag = TypeVar("Tag")
Pair = tuple[Notification, Target]

# How often (in results) a worker looks at the stop flag: a multiprocessing Event costs a few
# semaphore operations per look.
_STOP_CHECK_EVERY = 16
# Pools in a row that die before finishing a single chunk: the workers cannot run at all.
_MAX_FRUITLESS_POOLS = 3
# After the caller stops early, how long the workers get to abandon their chunks before shutdown.
_STOP_GRACE_SECONDS = 30.0


def _default_processes() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ProcessPool:
    """Send notifications from ``processes`` worker processes, each with its own long-lived ``PushClient``.

    ``client_factory`` is called once in each worker to build its client; it must be picklable (a
    module-level function, or a ``functools.partial`` of one), since ``spawn`` starts each worker as a
    fresh interpreter. Give its client a shared ``credential_store`` (``unipush.FileStore()``) so that
    the workers use one APNs provider token and one OAuth token between them, as Apple asks; the
    client's ``concurrency`` is per worker. ``on_invalid_token`` callbacks of that client run in the
    workers; the parent sees each dead token in its results.

    ``stream(pairs)`` cuts its input into chunks of ``chunk_size`` and keeps at most
    ``chunks_in_flight`` (default two per worker) out at once, so memory stays flat however long the
    input is. Results come back a chunk at a time, in input order within a chunk.

    If a worker dies, every target of the chunks then in flight gets a failed result with a
    ``WorkerCrashedError`` (it may or may not have been delivered: nothing is resent), and a fresh
    pool sends the rest. Stopping early (``break``, an exception, Ctrl-C in the parent) tells the
    workers to drop what they have not sent; workers ignore SIGINT themselves and exit if the parent
    process dies. Use the pool as a context manager, or call ``close()``; run one ``stream`` at a time
    (stopping one stops the chunks of any other).

    Attributes:
        processes: the number of worker processes (default: the CPUs this process may run on).
        chunk_size: the most pairs handed to a worker at once.
        chunks_in_flight: the most chunks out at once, queued or being sent.
    """

    def __init__(
        self,
        client_factory: Callable[[], PushClient],
        *,
        processes: int | None = None,
        chunk_size: int = 1000,
        chunks_in_flight: int | None = None,
    ) -> None:
        if not callable(client_factory):
            raise ConfigurationError("client_factory must be a callable returning a PushClient")
        try:
            pickle.dumps(client_factory)
        except Exception as exc:
            raise ConfigurationError(
                f"client_factory must be picklable (a module-level function or a functools.partial of one): {exc}"
            ) from None
        processes = _default_processes() if processes is None else processes
        for name, value in (("processes", processes), ("chunk_size", chunk_size)):
            if type(value) is not int or value < 1:
                raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
        in_flight = 2 * processes if chunks_in_flight is None else chunks_in_flight
        if type(in_flight) is not int or in_flight < 1:
            raise ConfigurationError(f"chunks_in_flight must be an int >= 1, got {chunks_in_flight!r}")
        self._factory = client_factory
        self.processes = processes
        self.chunk_size = chunk_size
        self.chunks_in_flight = in_flight
        # spawn, not fork: the parent may run threads (a PushClient's loop thread, a sandbox), and a
        # fork copies their locks in whatever state they were (see the multiprocessing docs, "Contexts
        # and start methods"). spawn works the same on every platform.
        self._context = multiprocessing.get_context("spawn")
        self._stop: Event = self._context.Event()
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0  # counts executors, to tell a broken one from its replacement
        self._closed = False

    def __repr__(self) -> str:
        return f"ProcessPool(processes={self.processes}, chunk_size={self.chunk_size})"

    # -- the pool ----------------------------------------------------------------------------------

    def _pool(self) -> ProcessPoolExecutor:
        if self._closed:
            raise ConfigurationError("this ProcessPool is closed")
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=self._context,
                initializer=_init_worker,
                initargs=(self._factory, self._stop),
            )
            self._generation += 1
        return self._executor

    def _submit(self, pairs: bytes) -> tuple[Future[bytes], int]:
        try:
            return self._pool().submit(_send_chunk, pairs), self._generation
        except BrokenProcessPool:  # a worker died since the last look
            self._replace_pool()
            return self._pool().submit(_send_chunk, pairs), self._generation

    def _replace_pool(self, *, wait: bool = True) -> None:
        """Drop the current executor (broken, or with a worker that would not stop); the next chunk starts a new one."""
        old, self._executor = self._executor, None
        if old is not None:
            old.shutdown(wait=wait, cancel_futures=True)
        if self._stop.is_set():  # left set by an interrupted stop: the new workers get a fresh flag
            self._stop = self._context.Event()

    def close(self) -> None:
        """Stop the workers (each closes its client's connections first). Safe to call twice."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- sending -----------------------------------------------------------------------------------

    def stream(self, pairs: Iterable[tuple[Notification, Target]]) -> Iterator[SendResult]:
        """Yield one ``SendResult`` per ``(notification, target)`` pair, a chunk at a time as chunks finish.

        ``pairs`` is pulled lazily in the calling thread; each ``result.target`` is the target object
        from ``pairs``. Raises ``ConfigurationError`` if ``client_factory`` fails in the workers, and
        ``WorkerCrashedError`` if fresh workers die three times in a row before finishing any chunk
        (they cannot run at all).
        """
        for _tag, result in self._stream_tagged((None, n, t) for n, t in pairs):
            yield result

    def _stream_tagged(self, items: Iterable[tuple[Tag, Notification, Target]]) -> Iterator[tuple[Tag, SendResult]]:
        """``stream`` for callers that need to know which input each result answers: ``(tag, result)``.

        Tags stay in this process (they are never pickled), so they may be anything.
        """
        if self._stop.is_set():
            self._replace_pool()
        source = iter(items)
        # future -> (the executor generation it went to, the tags and targets of its chunk)
        pending: dict[Future[bytes], tuple[int, list[tuple[Tag, Target]]]] = {}
        exhausted = False
        fruitless = 0  # executors in a row that broke before finishing a chunk
        try:
            while True:
                while not exhausted and len(pending) < self.chunks_in_flight:
                    chunk = list(islice(source, self.chunk_size))
                    if not chunk:
                        exhausted = True
                        break
                    payload = _dumps([(notification, target) for _, notification, target in chunk])
                    future, generation = self._submit(payload)
                    pending[future] = (generation, [(tag, target) for tag, _, target in chunk])
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    generation, tags = pending.pop(future)
                    try:
                        wires: list[_Wire | None] = pickle.loads(future.result())  # noqa: S301 - from our worker
                    except BrokenProcessPool:
                        for tag, target in tags:
                            yield tag, _crashed(target)
                        if generation == self._generation and self._executor is not None:
                            fruitless += 1
                            if fruitless >= _MAX_FRUITLESS_POOLS:
                                raise WorkerCrashedError(
                                    f"the worker processes died {fruitless} times in a row before finishing a chunk"
                                ) from None
                            self._replace_pool()
                        continue
                    fruitless = 0
                    for (tag, target), wire in zip(tags, wires, strict=True):
                        assert wire is not None  # only a stopped chunk has gaps, and nothing waits for one
                        yield tag, _result(wire, target)
        finally:
            if pending:
                self._abandon(pending)

    def _abandon(self, pending: Iterable[Future[Any]]) -> None:
        """The caller stopped early: cancel queued chunks and have the workers drop the running ones."""
        futures = list(pending)
        for future in futures:
            future.cancel()
        self._stop.set()
        _done, running = wait(futures, timeout=_STOP_GRACE_SECONDS)  # a second Ctrl-C leaves the flag set
        if running:  # a worker did not let go of its chunk: do not reuse these workers
            self._replace_pool(wait=False)
        self._stop.clear()


def _crashed(target: Target) -> SendResult:
    provider = getattr(target, "provider", "unknown")
    error = WorkerCrashedError(
        "the worker process sending this chunk died; the notification may or may not have been delivered"
    )
    return SendResult(ok=False, target=target, provider=str(provider), error=error, attempts=0)


# -- what travels, and how -------------------------------------------------------------------------


def _mappingproxy(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


def _reduce_mappingproxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _mappingproxy, (dict(proxy),)


_FIELDS: dict[type, tuple[str, ...]] = {}


def _frozen_fields(kind: type) -> tuple[str, ...]:
    """The fields of a frozen, slotted dataclass pickled the dataclass way; ``()`` for anything else."""
    names = _FIELDS.get(kind)
    if names is None:
        own_state = getattr(getattr(kind, "__getstate__", None), "__qualname__", "") == "_dataclass_getstate"
        names = tuple(f.name for f in dataclasses.fields(kind)) if own_state and dataclasses.is_dataclass(kind) else ()
        _FIELDS[kind] = names
    return names


def _frozen(kind: type, values: tuple[Any, ...]) -> Any:
    """Rebuild a frozen dataclass from its field values, as its generated ``__setstate__`` would."""
    instance: Any = object.__new__(kind)
    for name, value in zip(_frozen_fields(kind), values, strict=True):
        object.__setattr__(instance, name, value)
    return instance


class _Pickler(pickle.Pickler):
    """``pickle`` for what the pool sends: the model's read-only mappings, and frozen dataclasses fast.

    ``MappingProxyType`` (``Notification.data``...) cannot be pickled, and registering it in
    ``copyreg`` would change pickling for the whole program: this table applies to the pool only.
    Targets and the notification are frozen slotted dataclasses, whose generated
    ``__getstate__``/``__setstate__`` cost some 4 µs a target; as ``(class, field values)`` they cost
    under 1 µs, the same state by another route (classes with state methods of their own keep them).
    """

    # An instance attribute in typeshed, read by the C pickler from the class as well.
    dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_mappingproxy}  # noqa: RUF012

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        names = _frozen_fields(kind)
        if not names:
            return NotImplemented
        return _frozen, (kind, tuple([getattr(obj, name) for name in names]))


def _dumps(value: object) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


# A ``SendResult`` without its target (the parent has it), as a plain tuple: the C pickler handles a
# tuple some thirty times faster than a dataclass, whose state goes through Python-level
# ``__getstate__``/``__setstate__`` (benchmarks/bench_processes.py). The fields of ``SendResult`` but
# ``target``, in this order; an error travels as its class, ``args`` and attributes (``_error_state``).
_ErrorState = tuple[type[BaseException], tuple[Any, ...], dict[str, Any]]
_Wire = tuple[
    bool,
    str,
    int | None,
    str | None,
    _ErrorState | None,
    object,
    bool,
    datetime | None,
    float | None,
    int,
    datetime | None,
]


def _wire(result: SendResult) -> _Wire:
    error = result.error
    return (
        result.ok,
        result.provider,
        result.status_code,
        result.message_id,
        None if error is None else _error_state(error),
        result.reason,
        result.token_invalid,
        result.invalidated_at,
        result.retry_after,
        result.attempts,
        result.deferred_until,
    )


def _result(wire: _Wire, target: Target) -> SendResult:
    (
        ok,
        provider,
        status_code,
        message_id,
        state,
        reason,
        token_invalid,
        invalidated_at,
        retry_after,
        attempts,
        until,
    ) = wire
    error: Any = None
    if state is not None:
        kind, args, attributes = state
        # Not ``kind(*args)``: unipush's errors take keyword-only arguments, which is also why
        # ``BaseException.__reduce__`` cannot rebuild them.
        error = kind.__new__(kind, *args)
        error.args = args
        error.__dict__.update(attributes)
    return SendResult(
        ok=ok,
        target=target,
        provider=provider,
        status_code=status_code,
        message_id=message_id,
        error=error,
        reason=reason,
        token_invalid=token_invalid,
        invalidated_at=invalidated_at,
        retry_after=retry_after,
        attempts=attempts,
        deferred_until=until,
    )


def _error_state(error: BaseException) -> _ErrorState:
    state: _ErrorState = (type(error), error.args, dict(vars(error)))
    try:
        _dumps(state)
    except Exception:  # a plugin's error holding something unpicklable: keep its text
        return (UnipushError, (f"{type(error).__name__}: {error}",), {})
    return state


# -- the worker side -------------------------------------------------------------------------------


class _Worker:
    """The state of one worker process: its client (or why it could not be built) and the stop flag."""

    client: PushClient | None = None
    failure: str | None = None
    stop: Event | None = None


def _init_worker(factory: Callable[[], PushClient], stop: Event) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent alone decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _Worker.stop = stop
    _exit_with_parent()
    try:
        client = factory()
        if not isinstance(client, PushClient):
            raise ConfigurationError(f"client_factory must return a PushClient, got {type(client).__name__}")
    except Exception as exc:
        _Worker.failure = f"client_factory failed in a worker process: {type(exc).__name__}: {exc}"
        return
    _Worker.client = client
    # Run at the worker's normal exit (multiprocessing calls its finalizers; atexit does not run in a
    # child): the client closes its connections cleanly.
    multiprocessing.util.Finalize(client, client.close, exitpriority=10)


def _exit_with_parent() -> None:
    """Exit when the parent process dies: a worker blocked on the task queue would otherwise stay forever."""
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always set in a spawned worker
        return

    def watch() -> None:
        parent.join()  # waits on the parent's sentinel, which becomes ready when it exits
        os._exit(1)

    threading.Thread(target=watch, name="unipush-parent-watch", daemon=True).start()


def _send_chunk(payload: bytes) -> bytes:
    """Send one chunk (pickled ``(notification, target)`` pairs); returns the pickled ``_Wire`` list."""
    client, stop = _Worker.client, _Worker.stop
    if client is None or stop is None:
        raise ConfigurationError(_Worker.failure or "the worker process was not initialised")
    pairs: list[Pair] = pickle.loads(payload)  # noqa: S301 - from our parent process
    wires: list[_Wire | None] = [None] * len(pairs)
    if stop.is_set():
        return _dumps(wires)
    for count, (index, result) in enumerate(client._stream_indexed(pairs), start=1):
        wires[index] = _wire(result)
        if count % _STOP_CHECK_EVERY == 0 and stop.is_set():
            break  # closing the stream cancels the sends still in flight
    return _dumps(wires)
