"""Render one notification for APNs, FCM and Web Push, and print what each service would receive.

Runs offline with throwaway credentials made on the spot; swap in your own .p8 key, service-account
file and VAPID key to use it for real.
"""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from unipush import Action, Notification, PushClient
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM, FcmDevice
from unipush.webpush import WebPush, WebPushSubscription, generate_vapid_keys


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Throwaway credentials: an APNs .p8 key, an FCM service account and a VAPID key pair.
apns_key = pem(ec.generate_private_key(ec.SECP256R1()))
service_account = {
    "type": "service_account",
    "project_id": "my-project",
    "private_key_id": "0" * 40,
    "private_key": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "client_email": "push@my-project.iam.gserviceaccount.com",
    "client_id": "1",
    "token_uri": "https://oauth2.googleapis.com/token",
}
vapid_private_pem = generate_vapid_keys().private_key_pem
browser_key = ec.generate_private_key(ec.SECP256R1()).public_key()
subscription = WebPushSubscription.from_dict(
    {
        "endpoint": "https://fcm.googleapis.com/fcm/send/abc123",
        "keys": {
            "p256dh": b64url(
                browser_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            ),
            "auth": b64url(b"0123456789abcdef"),
        },
    }
)

client = PushClient(
    apns=APNs(key=apns_key, key_id="ABC123DEFG", team_id="TEAM123456", topic="com.example.app", environment="sandbox"),
    fcm=FCM(service_account=service_account),
    webpush=WebPush(vapid_private_key=vapid_private_pem, subject="mailto:ops@example.com"),
)
n = Notification(
    title="Order shipped",
    body="#1234 is on its way",
    deep_link="https://shop.example/o/1234",
    image="https://cdn.example/box.png",
    badge=1,
    sound="default",
    collapse_key="order-1234",
    ttl=3600,
    actions=[Action(id="track", title="Track")],
)
for target in (ApnsDevice("a1b2c3d4" * 8), FcmDevice("fcm-registration-token"), subscription):
    prepared = client.render(n, target)
    print(f"--- {prepared.provider}: {prepared.method} {prepared.url}")
    print(json.dumps(prepared.to_dict(), indent=2))
