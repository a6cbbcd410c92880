"""``Sandbox``: local APNs, FCM and Web Push services (and plugins' emulators) on one background event loop.

The servers, one per emulator, run on one asyncio loop in one thread owned by the sandbox (a
``LoopThread``), so the same sandbox serves synchronous code, async code on any other loop, and the CLI.
Everything the sandbox makes — the CA, the server certificate, the APNs ``.p8`` key, the
service-account JSON, the VAPID key — goes into one directory (a temporary one, removed on ``stop()``,
unless you pass ``directory=``).
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from unipush._async import AsyncPushClient
from unipush._loop_thread import LoopThread
from unipush._sync import PushClient
from unipush._targets import Target
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM, FcmDevice
from unipush.sandbox._faults import Fault, Faults
from unipush.sandbox._inbox import Inbox
from unipush.sandbox._interface import Emulator, EmulatorContext
from unipush.sandbox._tls import DEFAULT_HOSTS, SandboxTLS, create_tls
from unipush.sandbox.emulators import ApnsEmulator, FcmEmulator, WebPushEmulator
from unipush.sandbox.server import DEFAULT_MAX_CONCURRENT_STREAMS, SandboxServer
from unipush.sandbox.ui import SandboxUI
from unipush.webpush import WebPush, WebPushSubscription

__all__ = ["DEFAULT_APNS_TOPIC", "DEFAULT_NAVIGATE", "DEFAULT_VAPID_SUBJECT", "PROVIDERS", "Sandbox"]

#: The three built-in services, in the order they start (plugins' emulators start after them).
PROVIDERS = ("apns", "fcm", "webpush")

#: The bundle ID ``apns_config()`` uses unless told otherwise.
DEFAULT_APNS_TOPIC = "dev.unipush.sandbox"

#: The VAPID ``sub`` of ``webpush_config()``: a reachable-looking contact, because the emulator, like
#: Apple's push service, refuses ``localhost`` contacts.
DEFAULT_VAPID_SUBJECT = "mailto:sandbox@unipush.dev"

#: The ``default_navigate`` of the Web Push config in ``client()``/``async_client()``: where a click on a
#: notification without a ``deep_link`` goes, so that such a notification is sent as Declarative Web Push.
DEFAULT_NAVIGATE = "https://sandbox.unipush.dev/"

_START_TIMEOUT = 30.0
_STOP_GRACE = 1.0


class Sandbox:
    """Local APNs, FCM and Web Push services over real TLS, with an inbox and scripted faults.

    Use it as a context manager (``with Sandbox() as sandbox:``, or ``async with``) or call
    ``start()`` and ``stop()``. While it runs, ``apns_url``, ``fcm_url`` and ``webpush_url`` are the
    services' base URLs, ``ca_path`` is the CA to trust (``verify=``), ``inbox`` holds what they
    accepted and ``faults`` scripts what goes wrong.

    Args:
        host: the address the servers bind (``127.0.0.1``; ``0.0.0.0`` to be reachable from elsewhere,
            in which case the URLs still say ``127.0.0.1``).
        directory: where certificates and credentials are written (created if missing, kept on stop).
            By default a temporary directory, removed on ``stop()``.
        ports: fixed ports per service (``{"apns": 8443}``); the others pick a free port.
        max_concurrent_streams: the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS every server advertises
            (``faults.max_concurrent_streams`` overrides it per service for new connections).
        emulators: more services to serve beside APNs, FCM and Web Push: each an ``Emulator`` (a
            plugin's, usually an ``EmulatorBase`` subclass) on its own port, with the same TLS, inbox and
            faults; ``url(name)`` is its base URL. Their names must differ from each other and from
            ``PROVIDERS``.
        ui: also serve the inbox page (``ui_url``): every push drawn as the device shows it, live.
        ui_port: the page's port (0 picks a free one).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        directory: str | Path | None = None,
        ports: Mapping[str, int] | None = None,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
        emulators: Sequence[Emulator] = (),
        ui: bool = False,
        ui_port: int = 0,
    ) -> None:
        self._plugins = list(emulators)
        names = [emulator.name for emulator in self._plugins]
        for name in names:
            if not name or name in PROVIDERS or names.count(name) > 1:
                raise ValueError(f"emulator name {name!r} is empty, taken by a built-in service or given twice")
        self._names: tuple[str, ...] = (*PROVIDERS, *names)
        unknown = set(ports or {}) - set(self._names)
        if unknown:
            raise ValueError(f"unknown service(s) in ports: {sorted(unknown)}; expected some of {list(self._names)}")
        self.host = host
        self._directory_arg = Path(directory) if directory is not None else None
        self._ports = dict(ports or {})
        self._max_concurrent_streams = max_concurrent_streams
        self._inbox = Inbox()
        self._faults = Faults()
        self._lock = threading.Lock()
        self._directory: Path | None = None
        self._owns_directory = False
        self._ca_path: Path | None = None
        self._loop_thread: LoopThread | None = None
        self._servers: dict[str, SandboxServer] = {}
        self._emulators: dict[str, Emulator] = {}
        self._apns: ApnsEmulator | None = None
        self._fcm: FcmEmulator | None = None
        self._webpush: WebPushEmulator | None = None
        self._ui = SandboxUI(self._inbox, host=host, port=ui_port) if ui else None

    def __repr__(self) -> str:
        if not self.running:
            return "Sandbox(stopped)"
        urls = ", ".join(f"{name}={self.url(name)!r}" for name in self._names)
        return f"Sandbox({urls})"

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the servers are up."""
        return self._loop_thread is not None

    def start(self) -> Sandbox:
        """Make the credentials, start the three servers and return once they accept connections.

        Raises:
            RuntimeError: the sandbox is already running.
            OSError: a port could not be bound.
        """
        with self._lock:
            if self._loop_thread is not None:
                raise RuntimeError("the sandbox is already running")
            if self._directory_arg is None:
                directory = Path(tempfile.mkdtemp(prefix="unipush-sandbox-"))
                self._owns_directory = True
            else:
                directory = self._directory_arg
                directory.mkdir(parents=True, exist_ok=True)
                self._owns_directory = False
            self._directory = directory
            try:
                hosts = list(DEFAULT_HOSTS)
                if self.host not in hosts and self.host not in ("0.0.0.0", "::", ""):  # noqa: S104 - names, not binds
                    hosts.append(self.host)
                tls = create_tls(directory, hosts=hosts)
                self._ca_path = tls.ca_path
                loop_thread = LoopThread(name="unipush-sandbox")
                try:
                    loop_thread.submit(self._start_servers(tls)).result(timeout=_START_TIMEOUT)
                except BaseException:
                    loop_thread.stop(self._close_servers(), timeout=_STOP_GRACE * 5)
                    raise
            except BaseException:
                self._reset_state()
                raise
            self._loop_thread = loop_thread
        return self

    def stop(self) -> None:
        """Close every connection (GOAWAY first), stop the loop thread and remove the temporary directory.

        Safe to call twice; a no-op when not running.
        """
        with self._lock:
            loop_thread = self._loop_thread
            if loop_thread is None:
                return
            if loop_thread.is_current():
                raise RuntimeError("Sandbox.stop() cannot be called from the sandbox's own event loop")
            try:
                loop_thread.stop(self._close_servers(), timeout=_STOP_GRACE * 5)
            finally:
                self._reset_state()

    def _reset_state(self) -> None:
        self._loop_thread = None
        self._servers = {}
        self._emulators = {}
        self._apns = self._fcm = self._webpush = None
        if self._owns_directory and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._directory = None
        self._ca_path = None
        self._owns_directory = False

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Sandbox:
        # The servers live on their own thread and loop, so the caller's loop only waits.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- on the loop thread ----------------------------------------------------------------------

    async def _start_servers(self, tls: SandboxTLS) -> None:
        assert self._directory is not None
        directory = self._directory
        # The emulators need their server's URL (FCM's token_uri, Web Push endpoints), known only
        # after bind: they get a getter.
        self._apns = ApnsEmulator(self._inbox, directory)
        self._fcm = FcmEmulator(self._inbox, directory, lambda: self._servers["fcm"].base_url)
        self._webpush = WebPushEmulator(self._inbox, directory, lambda: self._servers["webpush"].base_url)
        emulators: list[Emulator] = [self._apns, self._fcm, self._webpush, *self._plugins]
        for emulator in emulators:
            name = emulator.name
            emulator.attach(
                EmulatorContext(
                    name=name,
                    inbox=self._inbox,
                    directory=directory,
                    base_url_getter=self._url_getter(name),
                )
            )
            self._servers[name] = SandboxServer(
                emulator,
                ssl_context=tls.server_context(http1=emulator.http1),
                faults=self._faults,
                host=self.host,
                port=self._ports.get(name, 0),
                allow_http1=emulator.http1,
                max_concurrent_streams=self._max_concurrent_streams,
            )
            self._emulators[name] = emulator
        await asyncio.gather(*(server.start() for server in self._servers.values()))
        if self._ui is not None:
            await self._ui.start(self._servers, self._emulators)
        # Now that the port is known, the service-account file can name the token endpoint.
        self._fcm.write_credentials()

    def _url_getter(self, name: str) -> Callable[[], str]:
        return lambda: self._servers[name].base_url

    async def _close_servers(self) -> None:
        if self._ui is not None:
            await self._ui.close()
        await asyncio.gather(*(server.close(grace=_STOP_GRACE) for server in self._servers.values()))

    # -- what the sandbox exposes ----------------------------------------------------------------

    def _require(self) -> None:
        if self._loop_thread is None:
            raise RuntimeError("the sandbox is not running: call start() or use it as a context manager")

    def url(self, name: str) -> str:
        """The base URL of service ``name``: ``"apns"``, ``"fcm"``, ``"webpush"`` or a plugin emulator's."""
        self._require()
        if name not in self._servers:
            raise KeyError(f"no service {name!r} in this sandbox; it has {list(self._names)}")
        return self._servers[name].base_url

    @property
    def apns_url(self) -> str:
        """The APNs base URL (``https://127.0.0.1:<port>``): ``APNs(base_url=...)``."""
        self._require()
        return self._servers["apns"].base_url

    @property
    def fcm_url(self) -> str:
        """The FCM base URL; the OAuth token endpoint is ``<fcm_url>/token``."""
        self._require()
        return self._servers["fcm"].base_url

    @property
    def webpush_url(self) -> str:
        """The Web Push service's base URL (subscription endpoints start with it)."""
        self._require()
        return self._servers["webpush"].base_url

    @property
    def ui_url(self) -> str:
        """The inbox page (``http://127.0.0.1:<port>/``); ``RuntimeError`` unless ``Sandbox(ui=True)``."""
        self._require()
        if self._ui is None:
            raise RuntimeError("the inbox page is off: use Sandbox(ui=True)")
        return self._ui.url

    @property
    def ca_path(self) -> Path:
        """The sandbox CA certificate (PEM): trust it with ``verify=`` / ``ssl_context()``."""
        self._require()
        assert self._ca_path is not None
        return self._ca_path

    @property
    def directory(self) -> Path:
        """Where the certificates and credential files are."""
        self._require()
        assert self._directory is not None
        return self._directory

    @property
    def inbox(self) -> Inbox:
        """Every notification the three services accepted (kept across ``stop``/``start``)."""
        return self._inbox

    @property
    def faults(self) -> Faults:
        """The fault registry shared by the three servers."""
        return self._faults

    @property
    def emulators(self) -> dict[str, Emulator]:
        """The emulators by service name (``"apns"``, ``"fcm"``, ``"webpush"``, then the plugins')."""
        self._require()
        return dict(self._emulators)

    @property
    def servers(self) -> dict[str, SandboxServer]:
        """The servers by service name, with their ``stats``."""
        self._require()
        return dict(self._servers)

    @property
    def apns(self) -> ApnsEmulator:
        """The APNs emulator (key id, team id, ``new_device``, ``invalidate``...)."""
        self._require()
        assert self._apns is not None
        return self._apns

    @property
    def fcm(self) -> FcmEmulator:
        """The FCM emulator (service account, ``new_device``, ``expire_tokens``...)."""
        self._require()
        assert self._fcm is not None
        return self._fcm

    @property
    def webpush(self) -> WebPushEmulator:
        """The Web Push emulator (``subscribe``, ``unsubscribe``, the VAPID key...)."""
        self._require()
        assert self._webpush is not None
        return self._webpush

    def ssl_context(self) -> ssl.SSLContext:
        """A client ``ssl.SSLContext`` trusting the sandbox CA (``httpx.Client(verify=...)`` takes it)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def info(self) -> dict[str, Any]:
        """A JSON-able summary: the base URLs, the CA and the credential files (``unipush sandbox --json``)."""
        apns, fcm, webpush = self.apns, self.fcm, self.webpush
        return {
            "apns_url": self.apns_url,
            "fcm_url": self.fcm_url,
            "webpush_url": self.webpush_url,
            "webpush_subscribe_url": self.webpush_url + "/subscribe",
            "ca_path": str(self.ca_path),
            "apns_key_path": str(apns.key_path),
            "apns_key_id": apns.key_id,
            "apns_team_id": apns.team_id,
            "apns_topic": DEFAULT_APNS_TOPIC,
            "fcm_service_account_path": str(fcm.service_account_path),
            "fcm_project_id": fcm.project_id,
            "fcm_token_uri": fcm.token_uri,
            "webpush_vapid_private_key_path": str(webpush.vapid_private_key_path),
            "webpush_application_server_key": webpush.application_server_key,
            "webpush_subject": DEFAULT_VAPID_SUBJECT,
            # A plugin emulator's base URL under "<name>_url", as the built-ins' are.
            **{f"{emulator.name}_url": self.url(emulator.name) for emulator in self._plugins},
            **({"ui_url": self.ui_url} if self._ui is not None else {}),
        }

    # -- targets ---------------------------------------------------------------------------------

    def apns_device(self, topic: str | None = None) -> ApnsDevice:
        """A new APNs device token; with ``topic`` it accepts pushes for that bundle ID only."""
        return ApnsDevice(self.apns.new_device(topic))

    def fcm_device(self) -> FcmDevice:
        """A new FCM registration token."""
        return FcmDevice(self.fcm.new_device())

    def subscribe(self, application_server_key: str | None = None, *, wns: bool = False) -> WebPushSubscription:
        """A new browser subscription (restricted to ``application_server_key``, default the sandbox's).

        ``wns=True``: its pushes are answered as Microsoft WNS answers them (``TTL`` and
        ``X-WNS-Cache-Policy`` must agree; see ``WebPushEmulator.subscribe``).
        """
        return WebPushSubscription.from_dict(self.webpush.subscribe(application_server_key, wns=wns))

    # -- provider configs ------------------------------------------------------------------------

    def apns_config(self, topic: str = DEFAULT_APNS_TOPIC, **overrides: Any) -> APNs:
        """An ``APNs`` config for the sandbox: its ``.p8`` key, key id, team id and base URL."""
        apns = self.apns
        options: dict[str, Any] = {
            "key": apns.key_path,
            "key_id": apns.key_id,
            "team_id": apns.team_id,
            "topic": topic,
            "environment": "sandbox",
            "base_url": self.apns_url,
            # The APNs emulator also stands in for Apple's channel-management host (broadcast channels).
            "manage_base_url": self.apns_url,
        }
        options.update(overrides)
        return APNs(**options)

    def fcm_config(self, **overrides: Any) -> FCM:
        """An ``FCM`` config for the sandbox: its service account (token_uri included) and base URL."""
        options: dict[str, Any] = {"service_account": self.fcm.service_account_path, "base_url": self.fcm_url}
        options.update(overrides)
        return FCM(**options)

    def webpush_config(self, **overrides: Any) -> WebPush:
        """A ``WebPush`` config for the sandbox: its VAPID key, a contact subject and base URL.

        ``allow_local_endpoints=True``, because the sandbox's subscriptions are on ``127.0.0.1`` (a
        production config refuses loopback endpoints). No ``default_navigate`` unless given: a
        notification without a ``deep_link`` goes out in the service-worker form (``client()`` sets one).
        """
        options: dict[str, Any] = {
            "vapid_private_key": self.webpush.vapid_private_key_path,
            "subject": DEFAULT_VAPID_SUBJECT,
            "base_url": self.webpush_url,
            "allow_local_endpoints": True,
        }
        options.update(overrides)
        return WebPush(**options)

    # -- faults ----------------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> PushClient:
        """A ``PushClient`` for all three sandbox services (``kwargs`` go to ``PushClient``).

        Its Web Push config is ``webpush_config(default_navigate=DEFAULT_NAVIGATE)``, so a notification
        without a ``deep_link`` is still a declarative message; pass ``webpush=`` to change that.
        """
        return PushClient(**self._client_kwargs(kwargs))

    def async_client(self, **kwargs: Any) -> AsyncPushClient:
        """An ``AsyncPushClient`` for all three sandbox services (``kwargs`` go to ``AsyncPushClient``)."""
        return AsyncPushClient(**self._client_kwargs(kwargs))

    def _client_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {
            "apns": self.apns_config(),
            "fcm": self.fcm_config(),
            "webpush": self.webpush_config(default_navigate=DEFAULT_NAVIGATE),
            "verify": self.ssl_context(),
        }
        merged.update(kwargs)
        return merged

    def fail(
        self,
        status: int,
        *,
        provider: str | None = None,
        target: str | Target | None = None,
        times: int | None = 1,
        retry_after: str | int | None = None,
        reason: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests with ``status`` and the service's own error body.

        Args:
            status: e.g. 429, 500, 503 (APNs ``TooManyRequests``/``InternalServerError``/...,
                FCM ``QUOTA_EXCEEDED``/``INTERNAL``/``UNAVAILABLE``).
            provider: ``"apns"``, ``"fcm"`` or ``"webpush"``; None = any (or the target's provider).
            target: only requests to this target (a ``Target`` or its key); None = every target.
            times: how many requests it applies to; None = until removed.
            retry_after: a ``Retry-After`` value (seconds or an HTTP-date).
            reason: override the service's reason / errorCode text.

        Returns:
            The registered fault (``sandbox.faults.remove(fault)`` withdraws it).
        """
        provider, key = self._scope(provider, target)
        return self._faults.add(
            Fault(
                kind="status",
                provider=provider,
                target=key,
                times=times,
                status=status,
                retry_after=None if retry_after is None else str(retry_after),
                reason=reason,
            )
        )

    def invalidate(self, target: str | Target, provider: str | None = None) -> None:
        """Make a target dead, as after an app uninstall: APNs 410 ``Unregistered`` (with timestamp),
        FCM 404 ``UNREGISTERED``, Web Push 410.

        With a provider (given, or the ``Target``'s), the emulator itself forgets the token; for a bare
        key without a provider, a permanent ``invalid_token`` fault matching the key on every service.
        A plugin emulator's target gets a permanent ``invalid_token`` fault on that service (its
        ``fault_response`` says what "dead" looks like there).
        """
        provider, key = self._scope(provider, target)
        assert key is not None
        if provider == "apns":
            self.apns.invalidate(key)
        elif provider == "fcm":
            self.fcm.invalidate(key)
        elif provider == "webpush":
            try:
                self.webpush.unsubscribe(key)
            except KeyError:  # not one of ours: still make the sandbox answer as for a dead one
                self._faults.add(Fault(kind="invalid_token", provider="webpush", target=key, times=None))
        else:
            self._faults.add(Fault(kind="invalid_token", provider=provider, target=key, times=None))

    def latency(
        self,
        seconds: float,
        provider: str | None = None,
        times: int | None = None,
        *,
        target: str | Target | None = None,
    ) -> Fault:
        """Delay matching requests by ``seconds`` before answering (``times=None``: until removed)."""
        provider, key = self._scope(provider, target)
        return self._faults.add(Fault(kind="latency", provider=provider, target=key, times=times, delay=seconds))

    def goaway_after(self, n: int | None, provider: str | None = None) -> None:
        """Send each connection a GOAWAY after ``n`` streams (the n-th is the last processed); None turns it off.

        Streams opened after the n-th are not processed and must be resent on a new connection
        (RFC 9113 section 6.8). Applies to ``provider`` or, by default, to every service.
        """
        for name in self._services(provider):
            if n is None:
                self._faults.goaway_after.pop(name, None)
            else:
                if n < 1:
                    raise ValueError("goaway_after needs n >= 1")
                self._faults.goaway_after[name] = n

    def set_max_concurrent_streams(self, n: int | None, provider: str | None = None) -> None:
        """Advertise SETTINGS_MAX_CONCURRENT_STREAMS = ``n`` on new connections (None: the default back)."""
        for name in self._services(provider):
            if n is None:
                self._faults.max_concurrent_streams.pop(name, None)
            else:
                if n < 0:
                    raise ValueError("max concurrent streams must be >= 0")
                self._faults.max_concurrent_streams[name] = n

    # -- argument checks -------------------------------------------------------------------------

    def _services(self, provider: str | None) -> tuple[str, ...]:
        if provider is None:
            return self._names
        if provider not in self._names:
            raise ValueError(f"unknown provider {provider!r}; expected one of {list(self._names)}")
        return (provider,)

    def _scope(self, provider: str | None, target: str | Target | None) -> tuple[str | None, str | None]:
        """Resolve (provider, target key) from the arguments of a fault shortcut."""
        if provider is not None:
            self._services(provider)
        if isinstance(target, Target):
            if provider is not None and provider != target.provider:
                raise ValueError(f"target {target.short()!r} belongs to {target.provider!r}, not {provider!r}")
            return target.provider, target.key
        return provider, target


def configs_from_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """Provider configs for a running sandbox that ``info`` describes, from any process.

    ``info`` is ``Sandbox.info()`` or what ``unipush sandbox --json`` prints: a worker process, a Celery
    worker or a benchmark builds its own client from it (``PushClient(**configs_from_info(info))``).
    Returns ``apns``, ``fcm`` and ``webpush`` configs with the sandbox's credentials and base URLs, and
    ``verify`` (its CA), as keyword arguments for ``PushClient``/``AsyncPushClient``.
    """
    return {
        "apns": APNs(
            key=info["apns_key_path"],
            key_id=info["apns_key_id"],
            team_id=info["apns_team_id"],
            topic=info["apns_topic"],
            environment="sandbox",
            base_url=info["apns_url"],
        ),
        "fcm": FCM(service_account=info["fcm_service_account_path"], base_url=info["fcm_url"]),
        "webpush": WebPush(
            vapid_private_key=info["webpush_vapid_private_key_path"],
            subject=info["webpush_subject"],
            base_url=info["webpush_url"],
            allow_local_endpoints=True,  # the sandbox's subscriptions are on 127.0.0.1
        ),
        "verify": info["ca_path"],
    }
