"""``unipush demo``: one rich notification to a device of each provider, through a local sandbox.

Runs offline in a few seconds: it starts the sandbox in-process, sends through ``PushClient`` exactly
as a backend would (real TLS, HTTP/2, provider tokens, OAuth, VAPID, RFC 8291 encryption), includes
one dead token to show the invalidation callback, and prints what each device received.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import TextIO

from unipush._model import Action, Notification
from unipush._results import SendResult
from unipush.apns import ApnsDevice
from unipush.sandbox._sandbox import Sandbox

__all__ = ["run_demo"]


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
