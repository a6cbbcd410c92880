"""``unipush demo``: one rich notification to a device of each provider, through an in-process sandbox.

Runs offline in a few seconds: it starts the sandbox in-process, sends through ``PushClient`` exactly
as a backend would (real TLS, HTTP/2, provider tokens, OAuth, VAPID, RFC 8291 encryption), includes
one dead token to show the invalidation callback, and prints what each device received. With ``--ui``
the sandbox also serves the inbox page, which stays up until Ctrl-C, SIGTERM or ``--seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
import time
from typing import Any, TextIO

from unipush import Action, Notification, SendResult
from unipush.apns import ApnsDevice
from unipush.cli._common import EXIT_FAILED, EXIT_OK, docs_url
from unipush.sandbox import Sandbox

__all__ = ["add_demo_parser", "demo_notification", "run_demo", "run_demo_command", "run_demo_page"]


def add_demo_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``demo`` on the subcommand parsers."""
    parser = commands.add_parser(
        "demo",
        parents=parents,
        help="send one rich notification to each provider through a local sandbox",
        description="Start a sandbox in this process and send one notification (image, deep link, action, "
        "badge, collapse key, TTL) to an APNs device, an FCM device and a browser subscription, plus one dead "
        "APNs token to show the invalid-token callback; then print each result and what each device received. "
        "Offline, no account needed; exit 0 when the three live devices got it and the dead token was reported. "
        f"More: {docs_url('sandbox')}",
    )
    parser.add_argument(
        "--ui", action="store_true", help="then show the deliveries on the inbox web page until Ctrl-C or SIGTERM"
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="with --ui: stop serving the page after this many seconds"
    )
    parser.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace, *, stdout: TextIO, stderr: TextIO, **_: object) -> int:
    """Run ``unipush demo``; returns the exit code."""
    if args.ui:
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            return EXIT_OK if run_demo_page(stdout, seconds=args.seconds, stop=stop) else EXIT_FAILED
        finally:
            signal.signal(signal.SIGTERM, previous)
    return EXIT_OK if run_demo(stdout) else EXIT_FAILED


def demo_notification() -> Notification:
    """The notification the demo sends: every common field a user is likely to try first."""
    return Notification(
        title="Order shipped",
        body="#1234 is on its way",
        deep_link="https://shop.example/orders/1234",
        image="https://cdn.shop.example/box.png",
        actions=[Action(id="track", title="Track", deep_link="https://shop.example/orders/1234/track")],
        badge=1,
        sound="default",
        collapse_key="order-1234",
        ttl=3600,
        data={"order_id": "1234"},
    )


def run_demo(out: TextIO, sandbox: Sandbox | None = None) -> bool:
    """Run the demo, writing a report to ``out``; True when every live device got its notification.

    With ``sandbox`` (running), the demo sends through it and leaves it running (``demo --ui``).
    """
    started = time.perf_counter()
    pruned: list[str] = []
    with Sandbox() if sandbox is None else contextlib.nullcontext(sandbox) as sandbox:
        dead = sandbox.apns_device()
        sandbox.invalidate(dead.token, provider="apns")
        targets = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe(), dead]
        with sandbox.client(on_invalid_token=lambda r: pruned.append(r.target.short())) as client:
            batch = client.send_many(demo_notification(), targets)
        deliveries = sandbox.inbox.all()
    elapsed = time.perf_counter() - started

    print(f"{'provider':<9} {'target':<28} {'status':>6}  result", file=out)
    for result in batch:
        status = result.status_code or "-"
        print(f"{result.provider:<9} {result.target.short():<28} {status:>6}  {_describe(result)}", file=out)
    print(file=out)
    for delivery in deliveries:
        print(f"{delivery.provider} device {delivery.target[:40]} received:", file=out)
        print("  " + json.dumps(delivery.payload, ensure_ascii=False, sort_keys=True), file=out)
    print(file=out)
    print(f"on_invalid_token called for: {', '.join(pruned) or 'nobody'}", file=out)
    print(f"{len(batch.succeeded)} sent, {len(batch.failed)} failed, in {elapsed:.2f}s", file=out)
    live_ok = all(r.ok for r in batch if not (isinstance(r.target, ApnsDevice) and r.target == dead))
    return live_ok and len(deliveries) == len(targets) - 1 and pruned == [dead.short()]


def _describe(result: SendResult) -> str:
    if result.ok:
        return f"delivered (id {result.message_id})"
    reason = getattr(result.reason, "value", result.reason)
    suffix = " → token invalid, callback ran" if result.token_invalid else ""
    return f"rejected: {reason}{suffix}"


def run_demo_page(out: TextIO, *, seconds: float | None = None, stop: threading.Event | None = None) -> bool:
    """Run the demo through a sandbox serving the inbox page, print the page's URL and keep serving.

    Serves until Ctrl-C, ``stop`` is set (the CLI sets it on SIGTERM) or ``seconds`` have passed;
    returns what ``run_demo`` returned (Ctrl-C is the normal way to end, not a failure).
    """
    stop = stop if stop is not None else threading.Event()
    with Sandbox(ui=True) as sandbox:
        print(f"inbox page: {sandbox.ui_url}", file=out, flush=True)
        ok = run_demo(out, sandbox)
        until = "until Ctrl-C" if seconds is None else f"for {seconds:g} s (Ctrl-C stops it sooner)"
        print(f"serving the inbox page at {sandbox.ui_url} {until}", file=out, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait(seconds)
    return ok
