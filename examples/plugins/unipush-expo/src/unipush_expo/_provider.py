"""``Expo``: the Expo push service as a ``unipush.Provider``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from unipush import ConfigurationError, Notification, ValidationError
from unipush.provider import Outcome, PreparedRequest, Target, dumps_json
from unipush_expo._decode import parse_response
from unipush_expo._encode import check_size, encode_message
from unipush_expo._target import ExpoDevice

__all__ = ["DEFAULT_BASE_URL", "ENV_ACCESS_TOKEN", "ENV_BASE_URL", "ENV_CHANNEL_ID", "SEND_PATH", "Expo"]

DEFAULT_BASE_URL = "https://exp.host"
"""Expo's push service."""

SEND_PATH = "/--/api/v2/push/send"
"""The send endpoint, appended to ``base_url``."""

ENV_ACCESS_TOKEN = "EXPO_ACCESS_TOKEN"
"""Environment variable ``Expo.from_env`` reads the access token from."""

ENV_BASE_URL = "UNIPUSH_EXPO_BASE_URL"
"""Environment variable ``Expo.from_env`` reads ``base_url`` from (a proxy or a test server)."""

ENV_CHANNEL_ID = "UNIPUSH_EXPO_CHANNEL_ID"
"""Environment variable ``Expo.from_env`` reads the default Android ``channel_id`` from."""


def _check_token(token: object) -> str | None:
    if token is None:
        return None
    # The token goes into a header: refuse anything that could break the header or is obviously wrong.
    if not isinstance(token, str) or not token or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigurationError(
            "Expo access_token must be a non-empty string without whitespace "
            "(an access token from the Expo dashboard, Access tokens)"
        )
    return token


def _check_base_url(base_url: object) -> str:
    if not isinstance(base_url, str):
        raise ConfigurationError(f"Expo base_url must be a URL string, got {type(base_url).__name__}")
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"Expo base_url must be an http(s) URL with a host and no query or fragment, got {base_url!r}"
        )
    return base_url.rstrip("/")


def _check_channel(channel_id: object) -> str | None:
    if channel_id is None:
        return None
    if not isinstance(channel_id, str) or not channel_id:
        raise ConfigurationError(f"Expo channel_id must be a non-empty string, got {channel_id!r}")
    return channel_id


class Expo:
    """The Expo push service (``POST https://exp.host/--/api/v2/push/send``): a ``unipush.Provider``.

    Serves ``ExpoDevice`` targets. One message goes out per request (a JSON array of one), so every
    target gets its own ``SendResult``, retry and ``on_invalid_token`` call like any other provider;
    the client multiplexes the requests over one HTTP/2 connection.

    Args:
        access_token: an Expo access token, sent as ``Authorization: Bearer ...``. Needed only when
            the project enables enhanced push security; never shown in reprs or errors.
        base_url: where to send instead of ``https://exp.host`` (a proxy or a test server); the send
            path ``/--/api/v2/push/send`` is appended.
        channel_id: the Android notification channel used when a notification does not name one in
            ``FcmOptions(channel_id=...)``.

    Raises:
        ConfigurationError: an option is unusable.
    """

    __slots__ = ("_access_token", "_base_url", "_channel_id", "_url")

    name = "expo"
    """The provider name (and entry-point name): ``"expo"``."""

    target_types: tuple[type[Target], ...] = (ExpoDevice,)
    """``(ExpoDevice,)``."""

    def __init__(
        self, *, access_token: str | None = None, base_url: str = DEFAULT_BASE_URL, channel_id: str | None = None
    ) -> None:
        self._access_token = _check_token(access_token)
        self._base_url = _check_base_url(base_url)
        self._channel_id = _check_channel(channel_id)
        self._url = self._base_url + SEND_PATH

    @classmethod
    def from_env(
        cls,
        *,
        access_token: str | None = None,
        base_url: str | None = None,
        channel_id: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Expo:
        """Build from keyword options, filling the ones not given from environment variables.

        This is the plugin's entry point, so ``PushClient(providers=["expo"])`` calls it with no
        arguments: ``EXPO_ACCESS_TOKEN`` (the access token, optional),
        ``UNIPUSH_EXPO_BASE_URL`` (default ``https://exp.host``) and ``UNIPUSH_EXPO_CHANNEL_ID``
        (optional). Empty variables count as unset. ``environ`` replaces ``os.environ`` (for tests).
        """
        env = os.environ if environ is None else environ
        sources: list[str] = []

        def read(variable: str) -> str | None:
            value = env.get(variable) or None
            if value is not None:
                sources.append(variable)
            return value

        token = access_token if access_token is not None else read(ENV_ACCESS_TOKEN)
        url = base_url if base_url is not None else (read(ENV_BASE_URL) or DEFAULT_BASE_URL)
        channel = channel_id if channel_id is not None else read(ENV_CHANNEL_ID)
        try:
            return cls(access_token=token, base_url=url, channel_id=channel)
        except ConfigurationError as exc:
            if not sources:
                raise
            # Say where a bad value came from: the user may not know the variable is set.
            raise ConfigurationError(f"{exc} (read from the environment: {', '.join(sources)})") from None

    @property
    def base_url(self) -> str:
        """The service origin (and path prefix), without a trailing slash."""
        return self._base_url

    @property
    def url(self) -> str:
        """The full send URL."""
        return self._url

    @property
    def channel_id(self) -> str | None:
        """The default Android notification channel, if any."""
        return self._channel_id

    @property
    def has_access_token(self) -> bool:
        """Whether requests carry an access token."""
        return self._access_token is not None

    def prepare(self, notification: Notification, target: Target, *, now: datetime) -> PreparedRequest:
        """Render the request for one Expo device (pure; ``now`` is unused: ``ttl`` is relative).

        ``payload`` is the message object; the body is ``[payload]`` as compact UTF-8 JSON.

        Raises:
            ValidationError: the target is not an ``ExpoDevice``, or the notification has nothing to send.
            PayloadTooLargeError: the message is over 4096 bytes.
        """
        if not isinstance(target, ExpoDevice):
            raise ValidationError("target", f"Expo serves ExpoDevice, got {type(target).__name__}")
        message = encode_message(notification, target, channel_id=self._channel_id)
        check_size(message)
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            # Without Accept-Encoding any coding is acceptable (RFC 9110 §12.5.3); ask for none, since
            # the answer is a few hundred bytes. parse still inflates gzip/deflate if a proxy sends it.
            "accept-encoding": "identity",
        }
        if self._access_token is not None:
            headers["authorization"] = f"Bearer {self._access_token}"
        body = dumps_json([message])
        return PreparedRequest(
            provider=self.name, target=target, method="POST", url=self._url, headers=headers, body=body, payload=message
        )

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Decode Expo's answer to ``request`` (see ``unipush_expo._decode``). Never raises."""
        return parse_response(request, status_code, headers, body)

    def __repr__(self) -> str:
        token = ", access_token=<set>" if self._access_token is not None else ""
        return f"Expo(base_url={self._base_url!r}{token})"
