"""APNs token-based authentication: the ES256 provider token (JWT) and the key it is signed with.

Apple ("Establishing a token-based connection to APNs"): the JWT header is ``{"alg": "ES256", "kid":
<Key ID>}``, the claims are ``{"iss": <Team ID>, "iat": <UNIX seconds>}``, and it is signed with the
P-256 key from the ``.p8`` file. APNs refuses a token whose ``iat`` is more than an hour old
(``403 ExpiredProviderToken``) and one that changes more than about once every 20 minutes
(``429 TooManyProviderTokenUpdates``).

Sharing. APNs counts token updates per signing key, not per connection, client or process, so every
``ProviderTokenSigner`` for the same key shares one token through a ``CredentialStore``
(``unipush._credentials``): the process-wide ``MemoryStore`` by default, a ``FileStore`` for the
processes of one machine, a ``RedisStore`` for a fleet. The store key is ``apns:<team>:<key id>:<SHA-256
of the public key>``: public identifiers only, and the fingerprint keeps two different keys wrongly given
the same Key ID from handing out each other's tokens. The token and its ``iat`` live in the store, so the
rules below hold across processes; each process keeps a copy in memory and reads the store only when its
copy is due (the hot path is a dictionary read, no I/O).

Timing (all against the ``now`` the caller passes; nothing here reads the clock):

- a token is reused until it is ``REFRESH_AFTER`` (50 minutes) old, then re-minted — 10 minutes of
  margin before APNs's one-hour limit. A process whose copy is due first looks in the store, where
  another process may already have put the next token;
- after ``ExpiredProviderToken`` the refused token is replaced only if it is at least
  ``MIN_REMINT_INTERVAL`` (20 minutes) old. A token younger than that cannot really have expired: the
  refusal points at clock skew, and minting again would only add ``TooManyProviderTokenUpdates`` to it.
  The caller then gets the same token and the error surfaces instead of a mint storm. If another
  process already replaced the refused token, its replacement is used and nothing is minted.

Minting is a few tens of microseconds of CPU. With a ``MemoryStore`` everything happens inline, safe on
the event loop; with another store, ``token_async`` does the store I/O on a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush import _telemetry
from unipush._credentials import PROCESS_STORE, CredentialStore, StoredCredential, shared_credential
from unipush._errors import ConfigurationError
from unipush._validate import aware_datetime

__all__ = ["MIN_REMINT_INTERVAL", "REFRESH_AFTER", "ProviderTokenSigner"]

REFRESH_AFTER = timedelta(minutes=50)
"""Age at which a cached provider token is replaced (APNs refuses tokens older than one hour)."""

MIN_REMINT_INTERVAL = timedelta(minutes=20)
"""Minimum age before a refused token is replaced (APNs answers TooManyProviderTokenUpdates to faster changes)."""

TOKEN_LIFETIME = timedelta(hours=1)
"""Apple: a provider token whose ``iat`` is more than an hour old is refused (ExpiredProviderToken)."""

MINT_LEASE = 5.0
"""Seconds another process waits for a minting process (minting takes microseconds; this covers a stall)."""

_TEN_ALNUM = re.compile(r"[A-Za-z0-9]{10}")
_REFRESH_AFTER_S = int(REFRESH_AFTER.total_seconds())
_MIN_REMINT_S = int(MIN_REMINT_INTERVAL.total_seconds())
_LIFETIME_S = int(TOKEN_LIFETIME.total_seconds())


def store_key(team_id: str, key_id: str, key: ec.EllipticCurvePrivateKey) -> str:
    """``apns:<team>:<key id>:<SHA-256 of the public key>``: the token's key in a ``CredentialStore``."""
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"apns:{team_id}:{key_id}:{hashlib.sha256(public).hexdigest()}"


def _is_p256(key: object) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)


def _seconds(now: datetime) -> int:
    aware_datetime("now", now)
    return int(now.timestamp())


class ProviderTokenSigner:
    """Mints and caches the APNs provider token for one (team, key); thread-safe.

    Args:
        key: the P-256 private key from the ``.p8`` file (``APNs`` loads and checks it).
        key_id: the 10-character Key ID (JWT header ``kid``).
        team_id: the 10-character Team ID (JWT claim ``iss``).
        store: where the token is shared (default: the process-wide ``MemoryStore``); see
            ``use_store``.

    Signers built for the same key and store share their token (see the module docstring).
    """

    __slots__ = ("_key", "_key_id", "_shared", "_store_key", "_team_id")

    def __init__(
        self, key: ec.EllipticCurvePrivateKey, *, key_id: str, team_id: str, store: CredentialStore | None = None
    ) -> None:
        if not _is_p256(key):
            raise ConfigurationError("APNs signing key must be a P-256 (SECP256R1) EllipticCurvePrivateKey")
        ids: tuple[tuple[str, object], ...] = (("key_id", key_id), ("team_id", team_id))
        for name, value in ids:
            # Both go into every JWT (kid, iss); APNs issues them as 10 letters or digits.
            if not isinstance(value, str) or not _TEN_ALNUM.fullmatch(value):
                raise ConfigurationError(f"APNs {name} must be 10 letters or digits, got {value!r}")
        self._key = key
        self._key_id = key_id
        self._team_id = team_id
        self._store_key = store_key(team_id, key_id, key)
        self._shared = shared_credential(store if store is not None else PROCESS_STORE, self._store_key)

    def use_store(self, store: CredentialStore) -> None:
        """Share the token through ``store`` from now on (the client's ``credential_store=``)."""
        self._shared = shared_credential(store, self._store_key)

    @property
    def store(self) -> CredentialStore:
        """The ``CredentialStore`` the token is shared through."""
        return self._shared.store

    @property
    def store_key(self) -> str:
        """The token's key in the store: ``apns:<team>:<key id>:<public-key SHA-256>``."""
        return self._store_key

    @property
    def key_id(self) -> str:
        """The Key ID (``kid``)."""
        return self._key_id

    @property
    def team_id(self) -> str:
        """The Team ID (``iss``)."""
        return self._team_id

    @property
    def mint_count(self) -> int:
        """How many tokens this process minted for this key and store (shared by every such signer)."""
        return self._shared.mint_count

    @property
    def issued_at(self) -> datetime | None:
        """The ``iat`` of this process's copy of the token, or ``None`` before the first one."""
        current = self._shared.current
        if current is None:
            return None
        return datetime.fromtimestamp(current.issued_at, tz=timezone.utc)

    @property
    def needs_io(self) -> bool:
        """Whether renewing the token reads a store that does I/O (anything but a ``MemoryStore``)."""
        return not self._shared.inline

    def _usable(self, now_s: int, stale: str | None) -> Callable[[StoredCredential], bool]:
        def usable(credential: StoredCredential) -> bool:
            # A clock that jumped back leaves a token dated in the future, which APNs refuses as well:
            # count the distance either way as age.
            age = abs(now_s - credential.issued_at)
            if age >= _REFRESH_AFTER_S:
                return False
            # The refused token is replaced only once it is 20 minutes old (TooManyProviderTokenUpdates).
            return not (stale is not None and credential.token == stale and age >= _MIN_REMINT_S)

        return usable

    def _mint(self, now_s: int) -> Callable[[StoredCredential | None], StoredCredential]:
        def mint(_previous: StoredCredential | None) -> StoredCredential:
            _telemetry.minted("apns", "apns_jwt")
            token = jwt.encode(
                {"iss": self._team_id, "iat": now_s},
                self._key,
                algorithm="ES256",
                # pyjwt adds "typ": "JWT" unless told not to; Apple's header has only alg and kid.
                headers={"kid": self._key_id, "typ": None},
            )
            return StoredCredential(token=token, issued_at=now_s, expires_at=now_s + _LIFETIME_S)

        return mint

    def _stale(self, force: bool, stale: str | None) -> str | None:
        if stale is None and force:
            current = self._shared.current
            return current.token if current is not None else None
        return stale

    def cached(self, now: datetime, *, force: bool = False, stale: str | None = None) -> str | None:
        """The token from this process's copy if it is usable at ``now``, else ``None``; no I/O, no lock.

        With a ``MemoryStore`` (no I/O) a token is minted when needed, so this never returns ``None``.
        """
        now_s = _seconds(now)
        stale = self._stale(force, stale)
        found = self._shared.cached(self._usable(now_s, stale))
        if found is not None:
            return found.token
        return self.token(now, stale=stale) if self._shared.inline else None

    def token(self, now: datetime, *, force: bool = False, stale: str | None = None) -> str:
        """The provider token to use at ``now``, minting one when needed (may block on the store).

        Args:
            now: the current time (aware).
            force: the current token was refused with ``ExpiredProviderToken``; replace it unless it is
                younger than ``MIN_REMINT_INTERVAL``.
            stale: the token that was refused (instead of ``force``): replaced under the same rule, unless
                it was already replaced (by another thread or process), in which case that one is used.
        """
        now_s = _seconds(now)
        stale = self._stale(force, stale)
        return self._shared.get(self._usable(now_s, stale), self._mint(now_s), lease=MINT_LEASE).token

    async def token_async(self, now: datetime, *, force: bool = False, stale: str | None = None) -> str:
        """``token()`` for the event loop: the in-memory copy at no cost, store I/O on a worker thread."""
        stale = self._stale(force, stale)  # once: the copy may change while we wait for a thread
        found = self.cached(now, stale=stale)
        if found is not None:
            return found
        return await asyncio.to_thread(self.token, now, stale=stale)

    def authorization(self, now: datetime, *, force: bool = False) -> str:
        """The ``authorization`` header value: ``bearer <token>``."""
        return "bearer " + self.token(now, force=force)

    def __repr__(self) -> str:
        return f"ProviderTokenSigner(key_id={self._key_id!r}, team_id={self._team_id!r})"
