"""Transport errors name the host, never the path: an APNs path holds the device token, a Web Push
endpoint's path is its capability secret. Checked over a real socket (a closed port) through a user's
``httpx`` client, the path whose messages used to quote the whole URL."""

from __future__ import annotations

import socket

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support import pem
from unipush import Notification, PushClient, RetryPolicy
from unipush.apns import APNs, ApnsDevice

TOKEN = "ab" * 32


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_httpx_transport_error_names_the_host_not_the_token() -> None:
    port = _closed_port()
    apns = APNs(
        key=pem(ec.generate_private_key(ec.SECP256R1())),
        key_id="ABC123DEFG",
        team_id="TEAM123456",
        topic="com.example.app",
        base_url=f"https://127.0.0.1:{port}",
    )
    with httpx.Client(http2=True) as http, PushClient(apns=apns, http_client=http, retry=RetryPolicy.never()) as client:
        result = client.send(Notification(title="t"), ApnsDevice(TOKEN))
    assert not result.ok
    message = str(result.error)
    assert f"127.0.0.1:{port}" in message
    assert TOKEN not in message
    assert "/3/device" not in message
