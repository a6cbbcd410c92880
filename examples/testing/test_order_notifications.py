"""Testing your own notification code with unipush's pytest fixtures (no Apple or Google account).

``push_sandbox`` and ``push_client`` come from the plugin unipush installs (``unipush.testing``):
no import and no conftest needed; their client retries with ``fast_retry()``, so the outage test ends
at once. The last tests use no socket at all: a ``MockTransport`` answers what the test scripts
(docs/testing.md). Run with ``pytest examples/testing``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush import Notification, PushClient, SendResult, Target, TransportError
from unipush.apns import APNs, ApnsDevice
from unipush.sandbox import Sandbox
from unipush.testing import fast_retry
from unipush.transports import MockTransport, Request, Response


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


# -- without sockets: MockTransport ---------------------------------------------------------------


def mocked_client(transport: MockTransport, removed: list[SendResult]) -> PushClient:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    apns = APNs(key=key.decode(), key_id="ABC123DEFG", team_id="TEAM123456", topic="com.example.app")
    return PushClient(apns=apns, transport=transport, retry=fast_retry(), on_invalid_token=removed.append)


def test_a_dead_token_is_reported_for_removal() -> None:
    def apple(request: Request) -> Response:
        return Response(410, json={"reason": "Unregistered", "timestamp": 1700000000000})

    removed: list[SendResult] = []
    with mocked_client(MockTransport(apple), removed) as client:
        assert not notify_order_shipped(client, ApnsDevice("a1b2" * 16), "9")
    assert [r.target for r in removed] == [ApnsDevice("a1b2" * 16)]


def test_a_network_failure_is_retried_then_reported() -> None:
    calls: list[Request] = []

    def unreachable(request: Request) -> Response:
        calls.append(request)
        raise TransportError("connection refused", maybe_processed=False)

    removed: list[SendResult] = []
    with mocked_client(MockTransport(unreachable), removed) as client:
        assert not notify_order_shipped(client, ApnsDevice("c3d4" * 16), "10")
    assert len(calls) == 4  # the first attempt and 3 retries, 1 ms apart
    assert removed == []
