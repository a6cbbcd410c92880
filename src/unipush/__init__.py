"""unipush: send push notifications to APNs, FCM HTTP v1 and Web Push from one model.

Describe a ``Notification`` once, pick targets (``ApnsDevice``, ``ApnsChannel``, ``FcmDevice``, ``FcmTopic``,
``FcmCondition``, ``WebPushSubscription`` or a plugin's), and send them through ``PushClient`` or
``AsyncPushClient``. ``client.render(notification, target)`` shows exactly what would be sent.
"""

from __future__ import annotations

from unipush._async import AsyncPushClient
from unipush._credentials import CredentialStore, FileStore, MemoryStore, RedisStore, StoredCredential
from unipush._errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidTokenError,
    PayloadTooLargeError,
    PolicyError,
    ProviderError,
    RateLimitedError,
    TimeoutError,  # noqa: A004 - the contract names it; it also subclasses the builtin
    TransportError,
    UnipushError,
    ValidationError,
    WorkerCrashedError,
)
from unipush._model import Action, Notification, Priority
from unipush._plugins import PROVIDER_ENTRY_POINT_GROUP, ProviderSpec, available_providers, load_provider
from unipush._processes import ProcessPool
from unipush._provider import Provider, SupportsAuthorize
from unipush._pruning import PruningGuard
from unipush._results import BatchResult, Outcome, PreparedRequest, SendResult
from unipush._retry import RetryBudget, RetryPolicy
from unipush._serialize import target_from_dict
from unipush._sync import PushClient
from unipush._targets import Target
from unipush._validate import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS
from unipush.apns import APNs, ApnsChannel, ApnsDevice, ApnsOptions, ApnsReason
from unipush.fcm import (
    FCM,
    FcmCondition,
    FcmDevice,
    FcmErrorCode,
    FcmOptions,
    FcmTopic,
    TopicErrorCode,
    TopicManagementResult,
)
from unipush.webpush import WebPush, WebPushOptions, WebPushStatus, WebPushSubscription

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "FCM",
    "MAX_TTL_SECONDS",
    "PROVIDER_ENTRY_POINT_GROUP",
    "APNs",
    "Action",
    "ApnsChannel",
    "ApnsDevice",
    "ApnsOptions",
    "ApnsReason",
    "AsyncPushClient",
    "AuthenticationError",
    "BatchResult",
    "ConfigurationError",
    "CredentialStore",
    "FcmCondition",
    "FcmDevice",
    "FcmErrorCode",
    "FcmOptions",
    "FcmTopic",
    "FileStore",
    "InvalidTokenError",
    "MemoryStore",
    "Notification",
    "Outcome",
    "PayloadTooLargeError",
    "PolicyError",
    "PreparedRequest",
    "Priority",
    "ProcessPool",
    "Provider",
    "ProviderError",
    "ProviderSpec",
    "PruningGuard",
    "PushClient",
    "RateLimitedError",
    "RedisStore",
    "RetryBudget",
    "RetryPolicy",
    "SendResult",
    "StoredCredential",
    "SupportsAuthorize",
    "Target",
    "TimeoutError",
    "TopicErrorCode",
    "TopicManagementResult",
    "TransportError",
    "UnipushError",
    "ValidationError",
    "WebPush",
    "WebPushOptions",
    "WebPushStatus",
    "WebPushSubscription",
    "WorkerCrashedError",
    "__version__",
    "available_providers",
    "load_provider",
    "target_from_dict",
]
