"""Subscribe registration tokens to an FCM topic, prune the dead ones, and send to the topic.

A backend keeps the tokens its apps reported; when a user opts in to "news", it subscribes their devices to
the topic, deletes the tokens Google says are dead (through ``on_invalid_token``, as after a send), and later
sends one message to the topic instead of one per device.

Real credentials come from the environment: ``FCM_SERVICE_ACCOUNT`` (the key file; unset = Application Default
Credentials) and ``FCM_DEVICE_TOKENS`` (comma-separated registration tokens). With ``FCM_DEVICE_TOKENS`` unset,
the script starts unipush's local sandbox, makes four devices there (one of them uninstalled), and checks what
each one received::

    python examples/fcm_topics.py
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from unipush import Notification, PushClient, SendResult
from unipush.fcm import FCM, FcmDevice, FcmTopic
from unipush.sandbox import Sandbox

TOPIC = FcmTopic("news")


def from_environment(stack: contextlib.ExitStack) -> tuple[dict[str, Any], list[FcmDevice], Sandbox | None]:
    """Client settings and devices from the environment, or from a local sandbox when none are set."""
    env = os.environ
    if env.get("FCM_DEVICE_TOKENS"):
        tokens = [FcmDevice(t.strip()) for t in env["FCM_DEVICE_TOKENS"].split(",") if t.strip()]
        return {"fcm": FCM(service_account=env.get("FCM_SERVICE_ACCOUNT") or None)}, tokens, None
    sandbox = stack.enter_context(Sandbox())
    print(f"No FCM_DEVICE_TOKENS in the environment: using the local sandbox's FCM at {sandbox.fcm_url}")
    devices = [sandbox.fcm_device() for _ in range(4)]
    sandbox.invalidate(devices[2])  # this app was uninstalled: Google answers NOT_FOUND for its token
    return {"fcm": sandbox.fcm_config(), "verify": sandbox.ssl_context()}, devices, sandbox


def delete_token(result: SendResult) -> None:
    """What a backend does with a dead token: delete it from its table (here: say so)."""
    print(f"deleting dead token {result.target.short()} ({result.reason})")


with contextlib.ExitStack() as stack:
    settings, devices, sandbox = from_environment(stack)
    with PushClient(**settings, on_invalid_token=delete_token) as client:
        subscribed = client.subscribe_to_topic(TOPIC, devices)
        print(f"subscribed {subscribed.success_count} of {len(devices)} devices to {TOPIC.name!r}")

        sent = client.send(Notification(title="Morning briefing", body="Three stories"), TOPIC)
        print(f"sent to topic {TOPIC.name!r}: {sent.message_id if sent.ok else sent.error}")

        # The user turned "news" off on the first device.
        left = client.unsubscribe_from_topic(TOPIC, devices[:1])
        print(f"unsubscribed {left.success_count} device")

    if sandbox is not None:
        reached = [d.target for d in sandbox.inbox.all() if d.target != TOPIC.name]
        live = [d.token for i, d in enumerate(devices) if i != 2]
        assert reached == live, reached  # every live subscribed device, and only those
        assert sandbox.fcm.subscribers(TOPIC.name) == live[1:]
        print(f"the topic message reached {len(reached)} devices")

raise SystemExit(0 if sent.ok else 1)
