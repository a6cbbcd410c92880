"""A private asyncio event loop on a background thread, for ``PushClient`` and ``Sandbox``.

The sync client multiplexes HTTP/2 like the async one by running the same engine on this loop; the
sandbox runs its servers on one, so that it serves sync code, async code on any loop and other processes. It is
created lazily and per process: after ``os.fork()`` the child sees another pid and starts its own
(a loop thread does not survive a fork). The caller's thread may run its own event loop: the two never
meet, since work crosses over only through ``run_coroutine_threadsafe``.

``stop()`` is final: a stopped loop thread never starts again (a closed client must not reopen behind
its owner's back), and no caller is left waiting on work that the stopped loop will never run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopClosedError", "LoopThread"]

T = TypeVar("T")


class LoopClosedError(RuntimeError):
    """Work was handed to a ``LoopThread`` after ``stop()`` (the client was closed meanwhile)."""


class LoopThread:
    """One event loop running forever on one non-daemon-critical thread, until ``stop()``."""

    def __init__(self, name: str = "unipush-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopped = False
        # Futures handed to other threads: any the loop never got to run are cancelled at stop().
        self._futures: set[concurrent.futures.Future[Any]] = set()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid() and not self._stopped:
            return loop
        with self._lock:
            if self._stopped:
                raise LoopClosedError("the loop thread was stopped")
            if self._loop is not None and self._pid == os.getpid():
                return self._loop
            # Either never started, or inherited from a parent process through fork: start afresh.
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name=self._name, daemon=True)
            thread.start()
            ready.wait()
            self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return loop

    @property
    def started(self) -> bool:
        """Whether the loop runs in this process."""
        return self._loop is not None and self._pid == os.getpid()

    def is_current(self) -> bool:
        """Whether the calling thread is this loop's thread (where ``run`` and ``stop`` would deadlock)."""
        return self.started and threading.current_thread() is self._thread

    def call(self, callback: Callable[..., object], *args: object) -> bool:
        """Run ``callback(*args)`` on the loop thread soon (a plain callback, no future).

        False when the loop thread was stopped: the callback will never run.
        """
        try:
            self._ensure().call_soon_threadsafe(callback, *args)
        except (LoopClosedError, RuntimeError):  # RuntimeError: the loop closed between the check and the call
            return False
        return True

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a thread-safe future. ``LoopClosedError`` after ``stop()``."""
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        except (LoopClosedError, RuntimeError) as exc:
            coro.close()
            raise LoopClosedError("the loop thread was stopped") from exc
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return future

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result in the calling thread."""
        if self.is_current():
            coro.close()
            raise RuntimeError("PushClient was called from its own loop thread (inside a callback?)")
        return self.submit(coro).result()

    def stop(self, final: Coroutine[Any, Any, object] | None = None, *, timeout: float | None = None) -> None:
        """Run ``final`` (e.g. closing connections), cancel what is left, stop the loop and join the thread.

        Final: the loop thread never starts again. A future another thread still waits on for work the
        loop never ran is cancelled, so no caller blocks forever on a stopped loop. ``timeout`` bounds the
        wait for ``final`` (``TimeoutError`` after the loop is stopped anyway); None waits for it.
        """
        with self._lock:
            started = self.started
            self._stopped = True
        if not started:
            if final is not None:
                final.close()
            return
        loop, thread = self._loop, self._thread
        assert loop is not None
        assert thread is not None
        try:
            if final is not None:
                asyncio.run_coroutine_threadsafe(final, loop).result(timeout)
        finally:
            asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = None
            for future in list(self._futures):
                future.cancel()  # accepted but never run: its waiter gets CancelledError, not a hang


async def _cancel_the_rest() -> None:
    """Cancel every task still on the loop but this one and wait for them, as ``asyncio.run`` does."""
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    if rest:
        await asyncio.wait(rest)
