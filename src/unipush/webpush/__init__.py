"""Web Push: RFC 8030 delivery, RFC 8291 encryption and RFC 8292 VAPID, with Declarative Web Push JSON.

``WebPush`` is the provider configuration, ``WebPushSubscription`` the target (build it with
``WebPushSubscription.from_dict(subscription.toJSON())``), ``WebPushOptions`` the per-notification
settings and ``WebPushStatus`` the reason on a result. ``PushServiceRule`` and
``PUSH_SERVICE_RULES`` are what known push services need beyond RFC 8030 (WNS's cache policy...).
``generate_vapid_keys`` makes a key pair, and ``decrypt`` opens a message as a browser would (for tests
and the local sandbox).
``service_worker_source`` and ``service_worker_path`` give the bundled ``unipush-sw.js``, which shows
these messages in browsers without native Declarative Web Push (``docs/service-worker.md``).
"""

from __future__ import annotations

from unipush.webpush._config import WebPush
from unipush.webpush._crypto import DecryptionError, decrypt, encrypt
from unipush.webpush._decode import WebPushStatus
from unipush.webpush._options import WebPushOptions
from unipush.webpush._service_worker import SERVICE_WORKER_FILENAME, service_worker_path, service_worker_source
from unipush.webpush._services import PUSH_SERVICE_RULES, PushServiceRule
from unipush.webpush._target import WebPushSubscription
from unipush.webpush._vapid import VapidKeyPair, VapidSigner, generate_vapid_keys, load_vapid_private_key

__all__ = [
    "PUSH_SERVICE_RULES",
    "SERVICE_WORKER_FILENAME",
    "DecryptionError",
    "PushServiceRule",
    "VapidKeyPair",
    "VapidSigner",
    "WebPush",
    "WebPushOptions",
    "WebPushStatus",
    "WebPushSubscription",
    "decrypt",
    "encrypt",
    "generate_vapid_keys",
    "load_vapid_private_key",
    "service_worker_path",
    "service_worker_source",
]
