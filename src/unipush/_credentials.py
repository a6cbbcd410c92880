"""Credential stores: one short-lived provider credential per key, shared by clients, processes and machines.

APNs counts provider-token updates per signing key, across every connection and process that uses the
key: a new token less than 20 minutes after the previous one is answered ``429
TooManyProviderTokenUpdates`` (Apple, "Establishing a token-based connection to APNs"). Eight worker
processes that each sign their own token therefore fail seven times over. A ``CredentialStore`` is where
the one token lives so that every process uses it: the APNs provider token, the FCM OAuth access token
and the VAPID JWT of each push service all go through it.

The protocol is three methods: ``load``/``save`` a ``StoredCredential`` under a key, and ``lock`` a key
while one process mints, so that the others wait and then read what it minted (single flight). The
built-ins:

- ``MemoryStore``: one process (the default of a library client; what unipush always did).
- ``FileStore``: one machine. A 0600 JSON file per key in a 0700 directory, and an ``flock`` lock file
  that the OS releases when the process holding it dies.
- ``RedisStore``: a fleet. ``SET NX PX`` leases: the lock of a process that died expires on its own.

What is stored is the credential only (a JWT or an access token, its issue and expiry times), never
the key it was signed with; the store key is made of public identifiers (team, key id, a SHA-256
fingerprint of the *public* key), never of the private key. ``StoredCredential`` hides its token in
``repr``.

The store is never on the hot path: ``SharedCredential`` keeps each process's copy in memory and goes to
the store only when that copy is due for renewal (or was refused), which for APNs is once every 50
minutes. The async clients call it on a worker thread (``asyncio.to_thread``), except for a
``MemoryStore``, which answers inline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from unipush._errors import ConfigurationError, ValidationError

try:
    import fcntl
except ImportError:  # Windows: FileStore is POSIX-only (see its docstring)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "PROCESS_STORE",
    "CredentialStore",
    "FileStore",
    "MemoryStore",
    "RedisStore",
    "SharedCredential",
    "StoredCredential",
    "check_store",
    "default_cache_directory",
    "shared_credential",
]

logger = logging.getLogger("unipush")

_POLL_FIRST = 0.002  # seconds between tries for a lock held by another process, doubling...
_POLL_MAX = 0.05  # ...up to this


_MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the model's own upper bound for datetimes


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCredential:
    """A short-lived credential as a store keeps it: the token and when it was issued and expires.

    ``issued_at`` and ``expires_at`` are UNIX seconds. ``token`` is the credential itself (a JWT or an
    OAuth access token); it is left out of ``repr``. Never the key it was signed with.
    """

    token: str = field(repr=False)
    issued_at: float
    expires_at: float

    def __post_init__(self) -> None:
        token: object = self.token  # checked as `object`: records come from files and Redis
        if not isinstance(token, str) or not token:
            raise ValidationError("token", "must be a non-empty string")
        for name in ("issued_at", "expires_at"):
            value = getattr(self, name)
            # A range test, not math.isfinite: that raises OverflowError for an int too large for a float
            # (a record read from a file or Redis may hold anything). NaN fails every comparison.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= _MAX_UNIX_SECONDS:
                raise ValidationError(name, "must be a number of UNIX seconds between 1970 and 9999")

    def to_json(self) -> str:
        """The JSON text ``FileStore`` and ``RedisStore`` keep (``{"v": 1, ...}``)."""
        return json.dumps(
            {"v": 1, "token": self.token, "issued_at": self.issued_at, "expires_at": self.expires_at},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> StoredCredential | None:
        """Parse ``to_json``'s text; ``None`` for anything else (a damaged or foreign record is ignored)."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != 1:
                return None
            return cls(token=data["token"], issued_at=data["issued_at"], expires_at=data["expires_at"])
        except (ValueError, KeyError, TypeError):
            return None


@runtime_checkable
class CredentialStore(Protocol):
    """Where short-lived credentials are shared: implement these three methods to add a store.

    Keys are short ASCII strings made of public identifiers (``apns:<team>:<key id>:<fingerprint>``,
    ``fcm:...``, ``vapid:...``). The methods are called from worker threads (and from any thread of a
    ``PushClient``), so they must be thread-safe; they may block for I/O. An exception from any of them
    is logged and the client falls back to its own in-process copy for that renewal, so a store outage
    costs at worst an extra token, never a send.
    """

    def load(self, key: str) -> StoredCredential | None:
        """The credential saved under ``key``, or ``None``. May return an expired one: callers check."""
        ...

    def save(self, key: str, credential: StoredCredential) -> None:
        """Keep ``credential`` under ``key``, replacing what was there (it may be dropped once expired)."""
        ...

    def lock(self, key: str, *, lease: float) -> AbstractContextManager[bool]:
        """Hold the mint lock of ``key`` for the ``with`` block; the block is given whether it got it.

        Waits for a holder to finish, but never forever: a holder that died must lose the lock (the OS
        releases a file lock; a Redis lease expires after ``lease`` seconds), and a waiter that still
        has not got it after about ``lease`` seconds enters the block anyway with ``False`` (it then
        mints without the lock: an extra token is better than a send that never goes).
        """
        ...


def check_store(store: object, *, origin: str = "credential_store") -> CredentialStore:
    """Return ``store`` if it implements ``CredentialStore``, else raise ``ConfigurationError``."""
    missing = [m for m in ("load", "save", "lock") if not callable(getattr(store, m, None))]
    if missing:
        raise ConfigurationError(
            f"{origin} must be a unipush.CredentialStore (MemoryStore(), FileStore(), RedisStore(url)); "
            f"{type(store).__name__} has no {', '.join(missing)}"
        )
    assert isinstance(store, CredentialStore)
    return store


# --- MemoryStore ---------------------------------------------------------------------------------


class MemoryStore:
    """Credentials shared by the clients of one process only (the default: what unipush always did).

    Every client built without ``credential_store=`` uses one process-wide ``MemoryStore``, so two
    configs or two clients for the same APNs key still share one token. ``MemoryStore()`` makes a
    separate one (for tests, say). It needs no I/O, so clients call it inline.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._records: dict[str, StoredCredential] = {}
        self._locks: dict[str, threading.Lock] = {}

    def load(self, key: str) -> StoredCredential | None:
        """The credential saved under ``key``, or ``None``."""
        with self._guard:
            return self._records.get(key)

    def save(self, key: str, credential: StoredCredential) -> None:
        """Keep ``credential`` under ``key``."""
        with self._guard:
            self._records[key] = credential

    @contextlib.contextmanager
    def lock(self, key: str, *, lease: float) -> Iterator[bool]:
        """A thread lock per key (waits at most ``lease`` seconds)."""
        with self._guard:
            mint_lock = self._locks.setdefault(key, threading.Lock())
        held = mint_lock.acquire(timeout=max(lease, 0.0))
        try:
            yield held
        finally:
            if held:
                mint_lock.release()

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time stays held for ever in the child: start afresh.
        self._guard = threading.Lock()
        self._locks = {}

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._records)} credentials)"


PROCESS_STORE = MemoryStore()
"""The store of every client built without ``credential_store=``."""


# --- FileStore -----------------------------------------------------------------------------------


def default_cache_directory() -> Path:
    """``$XDG_CACHE_HOME/unipush``, or ``~/.cache/unipush`` (XDG Base Directory spec: a relative
    ``XDG_CACHE_HOME`` is invalid and ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "unipush"


class FileStore:
    """Credentials shared by the processes of one machine: a 0600 file per key under the user's cache.

    Args:
        directory: where the files go; default ``$XDG_CACHE_HOME/unipush`` or ``~/.cache/unipush``.
            It is created with mode 0700 on first use, and tightened to 0700 if it is open to others.

    Each key has ``<sha256>.json`` (the credential: the token and its times, never a key; replaced
    atomically, so a reader never sees half a file) and ``<sha256>.lock``, locked with ``flock`` while
    one process mints. The OS drops the lock when its process exits or dies, so a crashed minter never
    blocks the others. The unipush command line uses a ``FileStore`` by default, which is what lets two
    runs within 20 minutes share one APNs token.

    POSIX only (``fcntl.flock``): on Windows, constructing one raises ``ConfigurationError``.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        if fcntl is None:
            raise ConfigurationError("FileStore needs POSIX file locks (fcntl); on Windows use RedisStore")
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise ConfigurationError(f"FileStore directory must be a path, got {type(directory).__name__}")
        try:
            self._directory = Path(directory).expanduser() if directory is not None else default_cache_directory()
        except (ValueError, UnicodeError, RuntimeError) as exc:  # "~nobody/x", a NUL, no home directory
            raise ConfigurationError(f"FileStore directory is not usable: {type(exc).__name__}") from None
        self._ready = False

    @property
    def directory(self) -> Path:
        """The directory holding the credential and lock files."""
        return self._directory

    def _paths(self, key: str) -> tuple[Path, Path]:
        # Hashed: keys are public identifiers, but a file name must not depend on what they contain.
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        return self._directory / f"{name}.json", self._directory / f"{name}.lock"

    def _ensure_directory(self) -> None:
        if self._ready:
            return
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self._directory.stat()
        if info.st_uid != os.getuid():
            raise ConfigurationError(f"FileStore directory {str(self._directory)!r} belongs to another user")
        if info.st_mode & 0o077:
            os.chmod(self._directory, 0o700)  # tokens are bearer credentials: nobody else may list or read them
        self._ready = True

    def load(self, key: str) -> StoredCredential | None:
        """The credential saved under ``key``, or ``None`` (no file, or one that is not a credential)."""
        data_path, _ = self._paths(key)
        try:
            text = data_path.read_bytes()
        except FileNotFoundError:
            return None
        return StoredCredential.from_json(text)

    def save(self, key: str, credential: StoredCredential) -> None:
        """Write ``credential`` to the key's file (mode 0600), atomically."""
        self._ensure_directory()
        data_path, _ = self._paths(key)
        # mkstemp creates the file 0600; os.replace is atomic on POSIX, so readers see the old or the new.
        fd, temporary = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(credential.to_json())
            os.replace(temporary, data_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def lock(self, key: str, *, lease: float) -> Iterator[bool]:
        """``flock`` the key's lock file; waits at most about ``lease`` seconds, then goes on without it."""
        assert fcntl is not None
        self._ensure_directory()
        _, lock_path = self._paths(key)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            held = _poll(lambda: _try_flock(fd), lease)
            try:
                yield held
            finally:
                if held:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"FileStore(directory={str(self._directory)!r})"


def _try_flock(fd: int) -> bool:
    assert fcntl is not None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _poll(attempt: Callable[[], bool], wait: float) -> bool:
    """Call ``attempt`` until it returns True or about ``wait`` seconds passed; its last answer."""
    deadline = time.monotonic() + max(wait, 0.0)
    delay = _POLL_FIRST
    while True:
        if attempt():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, _POLL_MAX)


# --- RedisStore ----------------------------------------------------------------------------------

# Delete the lock only if it still holds our value: after our lease expired, it may be someone else's.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisStore:
    """Credentials shared by a fleet: every process on every machine that uses this Redis.

    Args:
        url: a Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS, ``unix://``); or
        client: a ``redis.Redis`` you already have (its connection pool is then shared).
        prefix: put before every key this store writes (``unipush:cred:...``, ``unipush:lock:...``).

    Needs redis-py (``pip install 'unipush[redis]'``), imported only when a ``RedisStore`` is made.
    A credential is kept with a TTL (``PX``) until it expires. The mint lock is ``SET NX PX <lease>`` with a
    random value, released by compare-and-delete: the lock of a process that died expires after the lease
    (a few seconds) and the others go on. The URL's password never appears in ``repr``.

    Raises:
        ConfigurationError: redis-py is not installed, or neither or both of ``url`` and ``client`` given.
    """

    def __init__(self, url: str | None = None, *, client: Any = None, prefix: str = "unipush:") -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("RedisStore takes url= (redis://host:6379/0) or client= (a redis.Redis), one")
        if not isinstance(prefix, str):
            raise ConfigurationError(f"RedisStore prefix must be a string, got {type(prefix).__name__}")
        if client is None:
            try:
                import redis
            except ImportError:
                raise ConfigurationError("RedisStore needs redis-py: pip install 'unipush[redis]'") from None
            if not isinstance(url, str):
                raise ConfigurationError(f"RedisStore url must be a string, got {type(url).__name__}")
            try:
                client = redis.Redis.from_url(url)
            except (ValueError, TypeError, UnicodeError) as exc:
                detail = " ".join(str(exc).split())  # one line, whatever the URL held
                raise ConfigurationError(f"RedisStore url {_safe_url(url)!r} is not usable: {detail}") from None
        elif not all(callable(getattr(client, m, None)) for m in ("get", "set", "eval")):
            raise ConfigurationError(f"RedisStore client must be a redis.Redis, got {type(client).__name__}")
        self._redis = client
        self._prefix = prefix
        self._url = url  # kept for pickling only; repr shows _where, without the password
        self._where = _safe_url(url) if url is not None else type(client).__name__

    @property
    def client(self) -> Any:
        """The ``redis.Redis`` client."""
        return self._redis

    @property
    def prefix(self) -> str:
        """The prefix of every key this store writes."""
        return self._prefix

    def load(self, key: str) -> StoredCredential | None:
        """The credential saved under ``key``, or ``None`` (missing, expired, or not a credential)."""
        raw = self._redis.get(self._prefix + "cred:" + key)
        return None if raw is None else StoredCredential.from_json(raw)

    def save(self, key: str, credential: StoredCredential) -> None:
        """``SET`` the credential with a TTL ending when it expires."""
        ttl_ms = int((credential.expires_at - time.time()) * 1000)
        if ttl_ms > 0:
            self._redis.set(self._prefix + "cred:" + key, credential.to_json(), px=ttl_ms)

    @contextlib.contextmanager
    def lock(self, key: str, *, lease: float) -> Iterator[bool]:
        """A ``SET NX PX`` lease on ``<prefix>lock:<key>``; waits at most about ``lease`` seconds."""
        name = self._prefix + "lock:" + key
        value = secrets.token_hex(16)
        lease_ms = max(int(lease * 1000), 1)
        # A holder that died frees the lock when its lease expires, at most `lease` after it took it,
        # hence before the deadline of anyone who started waiting after that: waiting a little longer
        # than the lease means a dead minter is always outlived.
        held = _poll(lambda: bool(self._redis.set(name, value, nx=True, px=lease_ms)), lease + 0.1)
        try:
            yield held
        finally:
            if held:
                self._redis.eval(_RELEASE, 1, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable, for process pools: the child connects to the same URL with its own connections.
        if self._url is None:
            raise TypeError("a RedisStore built from client= cannot be pickled; build it from url= instead")
        return (_redis_store, (self._url, self._prefix))

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, prefix={self._prefix!r})"


def _redis_store(url: str, prefix: str) -> RedisStore:
    return RedisStore(url, prefix=prefix)


def _safe_url(url: str) -> str:
    """``url`` without its password (``redis://user:secret@host`` → ``redis://user:***@host``)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        # Everything before the last "@" is credentials; the host part is kept as written.
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{parts.username or ''}:***@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<unparsable url>"


# --- the in-process copy and single flight ------------------------------------------------------


class SharedCredential:
    """One credential (one store key) as this process sees it: a local copy over the store.

    ``get`` answers from the local copy while ``usable`` says it is; otherwise it reads the store,
    and if the store has nothing usable either, takes the store's lock, reads again (another process
    may have minted while we waited) and only then mints, saves and adopts. Threads of this process
    queue on one ``threading.Lock`` first, so a process sends at most one request to the store per
    renewal. ``cached`` is the lock-free, I/O-free read of the hot path.
    """

    __slots__ = ("_lock", "current", "inline", "key", "mint_count", "store")

    def __init__(self, store: CredentialStore, key: str) -> None:
        self.store = store
        self.key = key
        self.inline = isinstance(store, MemoryStore)
        self._lock = threading.Lock()
        self.current: StoredCredential | None = None
        self.mint_count = 0  # tokens minted by this process for this key

    def cached(self, usable: Callable[[StoredCredential], bool]) -> StoredCredential | None:
        """The local copy if it is usable; never blocks, never does I/O."""
        current = self.current
        return current if current is not None and usable(current) else None

    def get(
        self,
        usable: Callable[[StoredCredential], bool],
        mint: Callable[[StoredCredential | None], StoredCredential],
        *,
        lease: float,
    ) -> StoredCredential:
        """A usable credential: the local copy, else the store's, else a new one from ``mint(previous)``.

        Store errors are logged and the local copy is used or minted as if the store were empty.
        Errors from ``mint`` propagate.
        """
        with self._lock:
            current = self.current
            if current is not None and usable(current):
                return current
            found = self._load()
            if found is not None and usable(found):
                self.current = found
                return found
            stack = contextlib.ExitStack()
            try:
                held = stack.enter_context(self.store.lock(self.key, lease=lease))
            except Exception as exc:
                self._warn("lock", exc)
                held = False
            try:
                if held:
                    found = self._load() or found
                    if found is not None and usable(found):
                        self.current = found
                        return found
                else:
                    logger.warning("credential %s: minting without the store's lock (not acquired)", self.key)
                fresh = mint(found or current)
                self.mint_count += 1
                self.current = fresh
                try:
                    self.store.save(self.key, fresh)
                except Exception as exc:
                    self._warn("save", exc)
                return fresh
            finally:
                try:
                    stack.close()
                except Exception as exc:
                    self._warn("unlock", exc)

    def _load(self) -> StoredCredential | None:
        try:
            return self.store.load(self.key)
        except Exception as exc:
            self._warn("load", exc)
            return None

    def _warn(self, what: str, exc: Exception) -> None:
        # The exception's type and text only: store errors carry no credential (and keys are public).
        logger.warning(
            "credential store %s failed for %s (%s: %s); using this process's own copy",
            what,
            self.key,
            type(exc).__name__,
            exc,
        )


# Keyed by id(store) with the store kept alive beside it, so an id is never reused while its entry lives
# (and a store need not be hashable). A process makes few stores; entries live as long as the process.
_registry: dict[int, tuple[CredentialStore, dict[str, SharedCredential]]] = {}
_registry_lock = threading.Lock()


def shared_credential(store: CredentialStore, key: str) -> SharedCredential:
    """The one ``SharedCredential`` of (``store``, ``key``) in this process.

    Every signer of one key that uses one store object shares one local copy, so a process renews
    each credential once however many configs and clients it has.
    """
    with _registry_lock:
        entry = _registry.get(id(store))
        if entry is None:
            entry = _registry[id(store)] = (store, {})
        slots = entry[1]
        shared = slots.get(key)
        if shared is None:
            shared = slots[key] = SharedCredential(store, key)
        return shared


def _after_fork_in_child() -> None:
    """Fresh locks in a forked child (prefork servers: gunicorn, Celery): the copies keep their tokens.

    A thread of the parent may have held one of these locks when it forked; in the child no thread
    would ever release it. The in-memory tokens stay valid: the child uses its parent's token.
    """
    global _registry_lock
    _registry_lock = threading.Lock()
    for store, slots in _registry.values():
        if isinstance(store, MemoryStore):
            store._after_fork()
        for shared in slots.values():
            shared._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
