"""Send one push notification. The five lines under "The five lines" are all a real backend needs.

Real credentials come from the environment:

* APNs: ``APNS_KEY_FILE`` (the ``AuthKey_XXXXXXXXXX.p8``), ``APNS_KEY_ID``, ``APNS_TEAM_ID``, ``APNS_TOPIC`` (the
  bundle ID), ``APNS_DEVICE_TOKEN`` and optionally ``APNS_ENVIRONMENT`` (``production``, the default, or
  ``sandbox`` for development builds);
* FCM: ``FCM_DEVICE_TOKEN`` and ``FCM_SERVICE_ACCOUNT`` (the key file; unset = Application Default Credentials).

With none of these set, the script starts unipush's local sandbox and sends to a device there, offline::

    python examples/five_lines.py
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from unipush import Notification, PushClient, Target
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM, FcmDevice
from unipush.sandbox import Sandbox


def from_environment(stack: contextlib.ExitStack) -> tuple[dict[str, Any], Target]:
    """Client settings and a target from the environment, or from a local sandbox when none are set."""
    env = os.environ
    if env.get("APNS_KEY_FILE"):
        apns = APNs(
            key=env["APNS_KEY_FILE"],
            key_id=env["APNS_KEY_ID"],
            team_id=env["APNS_TEAM_ID"],
            topic=env["APNS_TOPIC"],
            environment="sandbox" if env.get("APNS_ENVIRONMENT") == "sandbox" else "production",
        )
        return {"apns": apns}, ApnsDevice(env["APNS_DEVICE_TOKEN"])
    if env.get("FCM_DEVICE_TOKEN"):
        return {"fcm": FCM(service_account=env.get("FCM_SERVICE_ACCOUNT") or None)}, FcmDevice(env["FCM_DEVICE_TOKEN"])
    sandbox = stack.enter_context(Sandbox())
    print(f"No credentials in the environment: sending to the local sandbox's APNs at {sandbox.apns_url}")
    return {"apns": sandbox.apns_config(), "verify": sandbox.ssl_context()}, sandbox.apns_device()


with contextlib.ExitStack() as stack:
    settings, target = from_environment(stack)

    # The five lines.
    client = PushClient(**settings)
    notification = Notification(title="Order shipped", body="#1234 is on its way")
    result = client.send(notification, target)
    print(f"delivered, id {result.message_id}" if result.ok else f"not delivered: {result.error}")
    client.close()

raise SystemExit(0 if result.ok else 1)
