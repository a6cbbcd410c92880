"""Web Push to a self-hosted push service that speaks only HTTP/1.1.

Browsers' push services speak HTTP/2, but a self-hosted one (an autopush deployment, a relay in front of
WNS, a test double) or a plugin's third-party API may answer only HTTP/1.1. unipush offers both in ALPN
and, when the server picks HTTP/1.1, sends over a small pool of kept-alive HTTP/1.1 connections: nothing
to configure.

This example runs such a service itself: the standard library's ``http.server`` behind TLS (certificates
from ``unipush.sandbox.create_tls``), accepting ``POST /push/<id>`` with 201 and answering 410 for one
unsubscribed browser. Run it with ``python examples/self_hosted_push_service.py``.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush import Notification, PushClient, SendResult
from unipush.sandbox import create_tls
from unipush.webpush import WebPush, WebPushSubscription

received: list[tuple[str, str, int]] = []  # (path, protocol version, client port) per request


class PushService(BaseHTTPRequestHandler):
    """A minimal RFC 8030 push resource: 201 Created, or 410 Gone for an unsubscribed browser."""

    protocol_version = "HTTP/1.1"  # persistent connections (RFC 9112 §9.3)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        received.append((self.path, self.request_version, self.client_address[1]))
        status = 410 if self.path.endswith("/unsubscribed") else 201
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def browser(endpoint: str) -> WebPushSubscription:
    """What a browser's ``PushManager.subscribe()`` would hand over: an endpoint and its keys."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return WebPushSubscription(endpoint, b64(point), b64(os.urandom(16)))


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        tls = create_tls(Path(directory), hosts=["127.0.0.1"])
        server = ThreadingHTTPServer(("127.0.0.1", 0), PushService)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert_path, tls.key_path)
        context.set_alpn_protocols(["http/1.1"])  # this service speaks HTTP/1.1 only
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"https://127.0.0.1:{server.server_address[1]}/push"
        try:
            names = ["ana", "ben", "chloe", "dev", "unsubscribed"]
            subscriptions = [browser(f"{base}/{name}") for name in names]
            gone: list[SendResult] = []
            webpush = WebPush(
                vapid_private_key=ec.generate_private_key(ec.SECP256R1()),
                subject="mailto:ops@example.com",
                allow_local_endpoints=True,  # the service runs on this machine
            )
            with PushClient(webpush=webpush, verify=tls.ca_path, on_invalid_token=gone.append) as client:
                batch = client.send_many(Notification(title="Build finished", body="main is green"), subscriptions)
        finally:
            server.shutdown()
            server.server_close()

    delivered = sum(result.ok for result in batch.results)
    versions = sorted({version for _, version, _ in received})
    print(f"{delivered} of {len(names)} delivered over {', '.join(versions)}; {len(gone)} unsubscribed to remove")
    print(f"{len(received)} requests on {len({port for _, _, port in received})} kept-alive connection(s)")


if __name__ == "__main__":
    main()
