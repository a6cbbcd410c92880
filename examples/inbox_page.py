"""Preview a notification's wording on iOS, Android and a browser, without a device: the sandbox inbox page.

Sends one order notification to a sandbox iPhone, Android phone and browser, then an update with the same
collapse key (each device replaces the first with it), and reads back what the page shows. With ``--serve``
it keeps the page up until Ctrl-C: open the printed URL, edit ``NOTIFICATION`` below, run again::

    python examples/inbox_page.py --serve
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import urllib.request

from unipush import Action, Notification
from unipush.sandbox import Sandbox

NOTIFICATION = Notification(
    title="Order shipped",
    subtitle="Box 1 of 2",
    body="#1234 is on its way",
    image="https://cdn.shop.example/box.png",
    deep_link="https://shop.example/orders/1234",
    actions=[Action("track", "Track", deep_link="https://shop.example/orders/1234/track")],
    badge=1,
    collapse_key="order-1234",
)
UPDATE = Notification(title="Order delivered", body="#1234 is at your door", badge=0, collapse_key="order-1234")

with Sandbox(ui=True) as sandbox:
    devices = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
    with sandbox.client() as client:
        client.send_many(NOTIFICATION, devices)
        client.send_many(UPDATE, devices)
    with urllib.request.urlopen(sandbox.ui_url + "api/deliveries") as answer:
        entries = json.load(answer)["deliveries"]
    shown = [e for e in entries if e["replaced_by"] is None]
    print(f"{len(entries)} pushes; the page shows {len(shown)} notifications (the updates replaced the first ones)")
    print(f"inbox page: {sandbox.ui_url}")
    if "--serve" in sys.argv[1:]:
        print("serving until Ctrl-C")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
