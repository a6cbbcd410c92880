"""Issue 10, point 1 over a real socket: FCM messages carrying iOS and web options are accepted by the
sandbox's FCM emulator (which checks the v1 schema, ``apns.live_activity_token`` included) and arrive in
the inbox as rendered."""

from __future__ import annotations

import json
from typing import Any

from unipush import ApnsOptions, Notification, WebPushOptions
from unipush.fcm import FcmOptions
from unipush.sandbox import Sandbox


def _timeless(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` without the fields computed from the send time (``render`` and ``send`` may straddle
    a second): the APNs expiration and the Live Activity timestamp. Everything else must match exactly."""
    copy: dict[str, Any] = json.loads(json.dumps(message))
    copy.get("apns", {}).get("headers", {}).pop("apns-expiration", None)
    copy.get("apns", {}).get("payload", {}).get("aps", {}).pop("timestamp", None)
    return copy


def test_live_activity_and_web_options_reach_the_fcm_inbox(sandbox: Sandbox) -> None:
    device = sandbox.fcm_device()
    live = Notification(
        title="Delivery started",
        body="Arriving in 15 min",
        sound="chime.aiff",
        apns=ApnsOptions(
            event="start", attributes_type="DeliveryAttributes", attributes={"id": 1}, content_state={"eta": 15}
        ),
        fcm=FcmOptions(live_activity_token="80f3a1" * 10),
    )
    web = Notification(
        title="Order shipped",
        collapse_key="order-1234",
        apns=ApnsOptions(interruption_level="time-sensitive"),
        webpush=WebPushOptions(urgency="low", require_interaction=True, lang="en-GB"),
    )
    with sandbox.client() as client:
        rendered = [dict(client.render(n, device).payload or {})["message"] for n in (live, web)]
        results = [client.send(n, device) for n in (live, web)]
    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    received = [dict(d.payload or {}) for d in sandbox.inbox.wait_for(2)]
    assert sorted(map(_timeless, received), key=str) == sorted(map(_timeless, rendered), key=str)
    by_type = {message["apns"]["headers"]["apns-push-type"]: message for message in received}
    assert by_type["liveactivity"]["apns"]["live_activity_token"] == "80f3a1" * 10
    assert by_type["liveactivity"]["apns"]["payload"]["aps"]["alert"]["sound"] == "chime.aiff"
    assert by_type["alert"]["apns"]["payload"]["aps"] == {"interruption-level": "time-sensitive"}
    assert by_type["alert"]["webpush"]["headers"]["Urgency"] == "low"
    assert by_type["alert"]["webpush"]["notification"]["requireInteraction"] is True
