"""Apple Push Notification service (APNs) over HTTP/2.

``APNs`` holds the settings and credentials (token auth with a ``.p8`` key, or a TLS client
certificate) and is the provider a client routes ``ApnsDevice`` targets to. ``ApnsOptions`` carries
the APNs-only settings of a notification (push type, interruption level, Live Activity fields...).
Answers decode to ``ApnsReason`` members. Images are delivered through a Notification Service
Extension that reads ``userInfo["unipush"]["image"]``; see ``unipush.apns._encode`` for the full field map.
"""

from unipush._options.apns import ApnsOptions, ApnsPushType
from unipush.apns._auth import ProviderTokenSigner
from unipush.apns._config import APNs, ClientCertificate
from unipush.apns._decode import ApnsReason
from unipush.apns._target import ApnsDevice

__all__ = [
    "APNs",
    "ApnsDevice",
    "ApnsOptions",
    "ApnsPushType",
    "ApnsReason",
    "ClientCertificate",
    "ProviderTokenSigner",
]
