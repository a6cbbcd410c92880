"""A private asyncio event loop on a background thread, for ``PushClient``.

The sync client multiplexes HTTP/2 like the async one by running the same engine on this loop. It is
created lazily and per process: after ``os.fork()`` the child sees another pid and starts its own
(a loop thread does not survive a fork). The caller's thread may run its own event loop: the two never
meet, since work crosses over only through ``run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """One event loop running forever on one non-daemon-critical thread, until ``stop()``."""

    def __init__(self, name: str = "unipush-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
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

    def call(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback(*args)`` on the loop thread soon (a plain callback, no future)."""
        self._ensure().call_soon_threadsafe(callback, *args)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result in the calling thread."""
        if self.started and threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("PushClient was called from its own loop thread (inside a callback?)")
        return self.submit(coro).result()

    def stop(self, final: Coroutine[Any, Any, object] | None = None) -> None:
        """Run ``final`` (e.g. closing connections), then stop the loop and join the thread."""
        if not self.started:
            if final is not None:
                final.close()
            return
        loop, thread = self._loop, self._thread
        assert loop is not None
        assert thread is not None
        if final is not None:
            self.submit(final).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None
