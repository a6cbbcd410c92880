"""Testing your own notification code with unipush's pytest fixtures (no Apple or Google account).

``push_sandbox`` and ``push_client`` come from the plugin unipush installs (``unipush.testing``):
no import and no conftest needed. Run with ``pytest examples/testing``.
"""

from __future__ import annotations

from unipush import Notification, PushClient, Target
from unipush.sandbox import Sandbox


def notify_order_shipped(client: PushClient, device: Target, order_id: str) -> bool:
    """The code under test: what a backend would have."""
    result = client.send(
        Notification(
            title="Order shipped",
            body=f"#{order_id} is on its way",
            deep_link=f"https://shop.example/orders/{order_id}",
            collapse_key=f"order-{order_id}",
        ),
        device,
    )
    return result.ok


def test_phone_gets_the_order_notification(push_sandbox: Sandbox, push_client: PushClient) -> None:
    device = push_sandbox.apns_device()
    assert notify_order_shipped(push_client, device, "1234")
    [delivery] = push_sandbox.inbox.for_target(device.token)
    assert delivery.payload is not None
    assert delivery.payload["aps"]["alert"]["title"] == "Order shipped"
    assert delivery.headers["apns-collapse-id"] == "order-1234"


def test_browser_gets_a_declarative_web_push(push_sandbox: Sandbox, push_client: PushClient) -> None:
    subscription = push_sandbox.subscribe()
    assert notify_order_shipped(push_client, subscription, "42")
    [delivery] = push_sandbox.inbox.for_target(subscription.endpoint)
    assert delivery.payload is not None
    assert delivery.payload["notification"]["navigate"] == "https://shop.example/orders/42"


def test_outage_is_reported_not_raised(push_sandbox: Sandbox, push_client: PushClient) -> None:
    device = push_sandbox.fcm_device()
    push_sandbox.fail(503, provider="fcm", times=None)  # FCM is down for this test
    assert not notify_order_shipped(push_client, device, "7")
    assert push_sandbox.inbox.for_target(device.token) == []
