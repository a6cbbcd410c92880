"""Fixtures for the Web Push tests: keys are generated per test run, never committed.

A "subscriber" is what a browser holds for one subscription: its P-256 private key, its 16-byte
auth secret, and the ``WebPushSubscription`` it would hand to the application server.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush.webpush import WebPush, WebPushSubscription
from unipush.webpush._crypto import b64url_encode

ENDPOINT = "https://fcm.googleapis.com/fcm/send/dGVzdC1zdWJzY3JpcHRpb24tdG9rZW4"
NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=timezone.utc)

Subscriber = tuple[ec.EllipticCurvePrivateKey, bytes, WebPushSubscription]


def make_subscriber(endpoint: str = ENDPOINT) -> Subscriber:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    auth = os.urandom(16)
    return key, auth, WebPushSubscription(endpoint, b64url_encode(point), b64url_encode(auth))


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def vapid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def subscriber() -> Subscriber:
    return make_subscriber()


@pytest.fixture
def subscriber_key(subscriber: Subscriber) -> ec.EllipticCurvePrivateKey:
    return subscriber[0]


@pytest.fixture
def auth_secret(subscriber: Subscriber) -> bytes:
    return subscriber[1]


@pytest.fixture
def subscription(subscriber: Subscriber) -> WebPushSubscription:
    return subscriber[2]


@pytest.fixture
def subscriber_factory() -> Callable[[str], Subscriber]:
    """Make more subscribers, for a given endpoint."""
    return make_subscriber


@pytest.fixture
def webpush(vapid_key: ec.EllipticCurvePrivateKey) -> WebPush:
    return WebPush(vapid_private_key=vapid_key, subject="mailto:ops@example.com")
