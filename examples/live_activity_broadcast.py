"""Follow a match on every fan's Lock Screen with one request per update: APNs broadcast push (iOS 18).

The server creates a broadcast channel for the match, starts the Live Activity on each fan's device with
a push-to-start that subscribes it to the channel (``input_push_channel``), then broadcasts each score
change once, ends the activities and deletes the channel.

Real credentials come from the environment: ``APNS_KEY_FILE`` (the ``AuthKey_XXXXXXXXXX.p8``), ``APNS_KEY_ID``,
``APNS_TEAM_ID``, ``APNS_TOPIC`` (the bundle ID), ``APNS_PUSH_TO_START_TOKENS`` (comma-separated push-to-start
tokens, from ``Activity<...>.pushToStartTokenUpdates``) and optionally ``APNS_ENVIRONMENT`` (``production``,
the default, or ``sandbox``). With none set, it runs against unipush's local sandbox, offline::

    python examples/live_activity_broadcast.py
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from unipush import Notification, PushClient
from unipush.apns import APNs, ApnsDevice, ApnsOptions, ApnsStoragePolicy
from unipush.sandbox import Sandbox


def from_environment(stack: contextlib.ExitStack) -> tuple[dict[str, Any], list[ApnsDevice], Sandbox | None]:
    """Client settings and the fans' push-to-start tokens, from the environment or a local sandbox."""
    env = os.environ
    if env.get("APNS_KEY_FILE"):
        apns = APNs(
            key=env["APNS_KEY_FILE"],
            key_id=env["APNS_KEY_ID"],
            team_id=env["APNS_TEAM_ID"],
            topic=env["APNS_TOPIC"],
            environment="sandbox" if env.get("APNS_ENVIRONMENT") == "sandbox" else "production",
        )
        tokens = [ApnsDevice(token) for token in env["APNS_PUSH_TO_START_TOKENS"].split(",") if token.strip()]
        return {"apns": apns}, tokens, None
    sandbox = stack.enter_context(Sandbox())
    print(f"No credentials in the environment: using the local sandbox's APNs at {sandbox.apns_url}")
    fans = [sandbox.apns_device() for _ in range(3)]
    return {"apns": sandbox.apns_config(), "verify": sandbox.ssl_context()}, fans, sandbox


def score(home: int, away: int, *, end: bool = False) -> Notification:
    state = {"home": home, "away": away}
    return Notification(apns=ApnsOptions(event="end" if end else "update", content_state=state))


with contextlib.ExitStack() as stack:
    settings, fans, sandbox = from_environment(stack)
    client = stack.enter_context(PushClient(**settings))

    # A channel that stores nothing: only devices online now get an update, with the higher publishing budget.
    channel = client.apns_channels.create(storage=ApnsStoragePolicy.NO_STORAGE)
    print(f"channel {channel.channel_id} created ({channel.storage.name})")

    kick_off = Notification(
        title="Kick-off",
        body="Lyon vs Nantes",
        apns=ApnsOptions(
            event="start",
            attributes_type="MatchAttributes",
            attributes={"home": "Lyon", "away": "Nantes"},
            content_state={"home": 0, "away": 0},
            input_push_channel=channel.channel_id,
        ),
    )
    started = client.send_many(kick_off, fans)
    print(f"started on {len(started.succeeded)} of {len(fans)} devices")

    for update in (score(1, 0), score(1, 1), score(2, 1, end=True)):
        result = client.send(update, channel.target)  # one request, every subscribed activity
        print(f"broadcast {update.apns.content_state if update.apns else {}}: {'ok' if result.ok else result.error}")

    if sandbox is not None:
        counts = [len(sandbox.inbox.for_target(fan.token)) for fan in fans]
        print(f"pushes per fan: {counts} (1 start + 3 broadcasts each)")

    client.apns_channels.delete(channel.channel_id)
    print(f"channel deleted; {len(client.apns_channels.list_all())} channels left")
