"""APNs token-based authentication: the ES256 provider token (JWT) and the key it is signed with.

Apple ("Establishing a token-based connection to APNs"): the JWT header is ``{"alg": "ES256", "kid":
<Key ID>}``, the claims are ``{"iss": <Team ID>, "iat": <UNIX seconds>}``, and it is signed with the
P-256 key from the ``.p8`` file. APNs refuses a token whose ``iat`` is more than an hour old
(``403 ExpiredProviderToken``) and one that changes more than about once every 20 minutes
(``429 TooManyProviderTokenUpdates``).

Sharing. APNs counts token updates per signing key, not per connection or per client object, so every
``ProviderTokenSigner`` for the same key shares one cached token: the cache is module-level, keyed by
``(team_id, key_id, public-key fingerprint)``. Two ``APNs`` configs (say one per topic, or a sync and an
async client) built from the same key therefore mint one token between them. The fingerprint is part of
the key so that two different keys wrongly given the same Key ID never hand out each other's tokens.

Timing (all against the ``now`` the caller passes; nothing here reads the clock):

- a token is reused until it is ``REFRESH_AFTER`` (50 minutes) old, then re-minted — 10 minutes of
  margin before APNs's one-hour limit;
- ``force=True`` (after ``ExpiredProviderToken``) re-mints only if the token is at least
  ``MIN_REMINT_INTERVAL`` (20 minutes) old. A token younger than that cannot really have expired: the
  refusal points at clock skew, and minting again would only add ``TooManyProviderTokenUpdates`` to it.
  The caller then gets the same token and the error surfaces instead of a mint storm.

Minting is a few tens of microseconds of CPU under a ``threading.Lock``, never I/O, so it is safe to call
from the event loop.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush._errors import ConfigurationError
from unipush._validate import aware_datetime

__all__ = ["MIN_REMINT_INTERVAL", "REFRESH_AFTER", "ProviderTokenSigner"]

REFRESH_AFTER = timedelta(minutes=50)
"""Age at which a cached provider token is replaced (APNs refuses tokens older than one hour)."""

MIN_REMINT_INTERVAL = timedelta(minutes=20)
"""Minimum age before a forced re-mint (APNs answers TooManyProviderTokenUpdates to faster changes)."""

_TEN_ALNUM = re.compile(r"[A-Za-z0-9]{10}")
_REFRESH_AFTER_S = int(REFRESH_AFTER.total_seconds())
_MIN_REMINT_S = int(MIN_REMINT_INTERVAL.total_seconds())


@dataclass
class _Slot:
    """The shared token state of one signing key."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    token: str | None = None
    issued_at: int = 0
    mint_count: int = 0


_slots: dict[tuple[str, str, str], _Slot] = {}
_slots_lock = threading.Lock()


def _slot_for(team_id: str, key_id: str, key: ec.EllipticCurvePrivateKey) -> _Slot:
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    cache_key = (team_id, key_id, hashlib.sha256(public).hexdigest())
    with _slots_lock:
        slot = _slots.get(cache_key)
        if slot is None:
            slot = _slots[cache_key] = _Slot()
        return slot


def _is_p256(key: object) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)


class ProviderTokenSigner:
    """Mints and caches the APNs provider token for one (team, key); thread-safe.

    Args:
        key: the P-256 private key from the ``.p8`` file (``APNs`` loads and checks it).
        key_id: the 10-character Key ID (JWT header ``kid``).
        team_id: the 10-character Team ID (JWT claim ``iss``).

    Signers built for the same key share their token (see the module docstring).
    """

    __slots__ = ("_key", "_key_id", "_slot", "_team_id")

    def __init__(self, key: ec.EllipticCurvePrivateKey, *, key_id: str, team_id: str) -> None:
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
        self._slot = _slot_for(team_id, key_id, key)

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
        """How many tokens have been minted for this key (shared by every signer of the key)."""
        return self._slot.mint_count

    @property
    def issued_at(self) -> datetime | None:
        """The ``iat`` of the cached token, or ``None`` before the first mint."""
        slot = self._slot
        if slot.token is None:
            return None
        return datetime.fromtimestamp(slot.issued_at, tz=timezone.utc)

    def token(self, now: datetime, *, force: bool = False) -> str:
        """The provider token to use at ``now``, minting one when needed.

        Args:
            now: the current time (aware).
            force: the cached token was refused with ``ExpiredProviderToken``; replace it unless it is
                younger than ``MIN_REMINT_INTERVAL``.
        """
        aware_datetime("now", now)
        now_s = int(now.timestamp())
        slot = self._slot
        with slot.lock:
            if slot.token is not None:
                # A clock that jumped back leaves a token dated in the future, which APNs refuses as well:
                # count the distance either way as age.
                age = abs(now_s - slot.issued_at)
                if age < _REFRESH_AFTER_S and not (force and age >= _MIN_REMINT_S):
                    return slot.token
            slot.token = jwt.encode(
                {"iss": self._team_id, "iat": now_s},
                self._key,
                algorithm="ES256",
                # pyjwt adds "typ": "JWT" unless told not to; Apple's header has only alg and kid.
                headers={"kid": self._key_id, "typ": None},
            )
            slot.issued_at = now_s
            slot.mint_count += 1
            return slot.token

    def authorization(self, now: datetime, *, force: bool = False) -> str:
        """The ``authorization`` header value: ``bearer <token>``."""
        return "bearer " + self.token(now, force=force)

    def __repr__(self) -> str:
        return f"ProviderTokenSigner(key_id={self._key_id!r}, team_id={self._team_id!r})"
