"""``unipush demo --ui``: the demo, then its deliveries on the inbox page until Ctrl-C or ``--seconds``."""

from __future__ import annotations

import contextlib
import threading
from typing import TextIO

__all__ = ["run_demo_page"]


def run_demo_page(out: TextIO, *, seconds: float | None = None, stop: threading.Event | None = None) -> bool:
    """Run the demo through a sandbox serving the inbox page, print the page's URL and keep serving.

    Serves until Ctrl-C, ``stop`` is set (the CLI sets it on SIGTERM) or ``seconds`` have passed;
    returns what ``run_demo`` returned (Ctrl-C is the normal way to end, not a failure).
    """
    from unipush.sandbox._demo import run_demo
    from unipush.sandbox._sandbox import Sandbox

    stop = stop if stop is not None else threading.Event()
    with Sandbox(ui=True) as sandbox:
        print(f"inbox page: {sandbox.ui_url}", file=out, flush=True)
        ok = run_demo(out, sandbox)
        until = "until Ctrl-C" if seconds is None else f"for {seconds:g} s (Ctrl-C stops it sooner)"
        print(f"serving the inbox page at {sandbox.ui_url} {until}", file=out, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait(seconds)
    return ok
