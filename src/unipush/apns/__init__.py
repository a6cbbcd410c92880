"""Apple Push Notification service (APNs) over HTTP/2.

``APNs`` holds the settings and credentials (token auth with a ``.p8`` key, or a TLS client
certificate) and is the provider a client routes ``ApnsDevice`` targets to. ``ApnsOptions`` carries
the APNs-only settings of a notification (push type, interruption level, Live Activity fields...).
``ApnsChannel`` is a broadcast channel (iOS 18): one request updates every Live Activity subscribed to
it; ``client.apns_channels`` creates, reads, lists and deletes channels (``ApnsChannelInfo``).
Answers decode to ``ApnsReason`` members. Images are delivered through a Notification Service
Extension that reads ``userInfo["unipush"]["image"]``; see ``unipush._payload.apple`` for the full field map.
"""

from unipush.apns._auth import ProviderTokenSigner
from unipush.apns._broadcast import ApnsChannelInfo
from unipush.apns._channels import ApnsChannels, AsyncApnsChannels
from unipush.apns._config import APNs, ClientCertificate
from unipush.apns._decode import ApnsReason
from unipush.apns._options import ApnsOptions, ApnsPushType
from unipush.apns._target import ApnsChannel, ApnsDevice, ApnsStoragePolicy

__all__ = [
    "APNs",
    "ApnsChannel",
    "ApnsChannelInfo",
    "ApnsChannels",
    "ApnsDevice",
    "ApnsOptions",
    "ApnsPushType",
    "ApnsReason",
    "ApnsStoragePolicy",
    "AsyncApnsChannels",
    "ClientCertificate",
    "ProviderTokenSigner",
]
