"""OAuth2 access tokens for FCM HTTP v1, fetched over httpx and cached until shortly before expiry.

google-auth builds and signs the token request (service-account JWT grant, ADC, any ``Credentials``);
this module gives it an httpx transport (google-auth's own ships with ``requests``, which unipush
does not depend on) and adds what a sender needs on top:

* one cached token per credential, refreshed ``refresh_margin`` seconds before it expires;
* single flight: any number of concurrent sends waiting on an expired token cause one refresh;
* ``force`` after a plain 401 refreshes only if nobody has refreshed since the caller saw the token
  (Google: a 401 UNAUTHENTICATED without an FcmError detail means the OAuth token is bad or expired);
* the async path runs the blocking refresh in a worker thread, so the event loop never blocks;
* with a ``CredentialStore`` (``PushClient(credential_store=...)``) the token is shared by every process
  using the store: a process whose copy is due reads the store, and only if the store has no usable
  token either does one process (under the store's lock) ask Google for a new one. The store keeps the
  access token and its expiry, never the service-account key.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import google.auth.exceptions
import google.auth.transport
import httpx
from google.auth.credentials import Credentials

from unipush import _telemetry
from unipush._credentials import CredentialStore, StoredCredential, shared_credential
from unipush._errors import AuthenticationError, TransportError

__all__ = ["AccessTokenSource", "HttpxAuthRequest"]

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxAuthRequest(google.auth.transport.Request):
    """google-auth's transport interface implemented with an ``httpx.Client``."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            response = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout if timeout is not None else 30.0
            )
        except httpx.HTTPError as exc:
            # google-auth expects its own TransportError from a transport (google.auth.transport.Request docs).
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"token request to {url} failed: {exc}"
            ) from exc
        return _Response(response)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AccessTokenSource:
    """The cached OAuth2 access token of one google-auth credential, safe across threads and loops."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 30.0,
        refresh_margin: float = 300.0,
        clock: Callable[[], datetime] = _utcnow,
        store: CredentialStore | None = None,
        store_key: str | None = None,
    ) -> None:
        self._credentials = credentials
        # Shared through the store only when the credential has a stable public identity (store_key).
        self._shared = shared_credential(store, store_key) if store is not None and store_key is not None else None
        self._verify = verify
        self._timeout = timeout
        self._margin = timedelta(seconds=refresh_margin)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expiry: datetime | None = None
        self.refresh_count = 0

    @property
    def current(self) -> str | None:
        """The cached token, fresh or not (``None`` before the first fetch)."""
        return self._token

    def _fresh(self) -> str | None:
        if self._token is None:
            return None
        if self._expiry is not None and self._clock() >= self._expiry - self._margin:
            return None
        return self._token

    def token(self, *, stale: str | None = None) -> str:
        """A valid access token; refreshes when expiring or when ``stale`` is still the current token."""
        current = self._fresh()
        if current is not None and current != stale:
            return current
        if self._shared is not None:
            return self._from_store(stale)
        with self._lock:
            current = self._fresh()
            if current is not None and current != stale:
                return current  # another thread refreshed while we waited: single flight
            return self._refresh()

    def _from_store(self, stale: str | None) -> str:
        """The token through the credential store: another process's if usable, else a new one (single flight)."""
        assert self._shared is not None
        margin = self._margin.total_seconds()

        def usable(credential: StoredCredential) -> bool:
            return credential.token != stale and self._clock().timestamp() < credential.expires_at - margin

        def mint(_previous: StoredCredential | None) -> StoredCredential:
            issued = self._clock()
            token = self._refresh()
            expiry = self._expiry if self._expiry is not None else issued + timedelta(hours=1)
            return StoredCredential(token=token, issued_at=issued.timestamp(), expires_at=expiry.timestamp())

        # The lease covers one token request (its timeout) with some slack.
        found = self._shared.get(usable, mint, lease=self._timeout + 5.0)
        self._token = found.token
        self._expiry = datetime.fromtimestamp(found.expires_at, tz=timezone.utc)
        return found.token

    async def token_async(self, *, stale: str | None = None) -> str:
        """``token()`` for asyncio code: a cached token at no cost, a refresh in a worker thread."""
        current = self._fresh()
        if current is not None and current != stale:
            return current
        return await asyncio.to_thread(self.token, stale=stale)

    def _refresh(self) -> str:
        # google-auth's Credentials.refresh(request) signs the grant and stores token + naive-UTC expiry.
        # http2=True keeps "h2" in the ALPN list httpx writes into a context shared with the engine.
        with httpx.Client(verify=self._verify, timeout=self._timeout, http2=True) as client:
            try:
                self._credentials.refresh(HttpxAuthRequest(client))  # type: ignore[no-untyped-call]
            except google.auth.exceptions.TransportError as exc:
                raise TransportError(str(exc)) from exc
            except google.auth.exceptions.GoogleAuthError as exc:
                raise AuthenticationError(
                    f"could not get an FCM access token: {exc}", provider="fcm", status_code=401
                ) from exc
        token = self._credentials.token
        if not isinstance(token, str) or not token:
            raise AuthenticationError("the token endpoint returned no access token", provider="fcm", status_code=401)
        expiry = self._credentials.expiry
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)
        self._token, self._expiry = token, expiry
        self.refresh_count += 1
        _telemetry.minted("fcm", "oauth_token")
        return token
