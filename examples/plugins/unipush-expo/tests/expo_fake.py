"""A small local fake of Expo's push API, for the plugin's tests.

``ExpoEmulator`` answers ``POST /--/api/v2/push/send`` as Expo does (docs.expo.dev, "Sending
notifications with Expo's push API"): a JSON array of at most 100 messages in, ``{"data": [ticket,
...]}`` out in request order, ``DeviceNotRegistered`` tickets for tokens marked dead,
``MessageRateExceeded`` for tokens marked throttled, ``MessageTooBig`` over 4096 bytes, and
request-level ``{"errors": [...]}`` for a bad body or a wrong access token.

It implements unipush's sandbox ``Emulator`` protocol, so ``unipush.sandbox.SandboxServer`` serves it
over real TLS with HTTP/2 (what unipush's own engine speaks) and HTTP/1.1 (for ``http_client=httpx``).
``ExpoServer`` runs that server on a private event-loop thread for synchronous tests.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Coroutine, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from unipush.sandbox import (
    Fault,
    Faults,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    SandboxTLS,
    create_tls,
    json_response,
)

T = TypeVar("T")

SEND_PATH = "/--/api/v2/push/send"
MAX_MESSAGES = 100
MAX_MESSAGE_BYTES = 4096
_TOKEN = re.compile(r"(?:Exponent|Expo)PushToken\[[^\[\]\s]+\]")


def _errors(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    return json_response(status, {"errors": [{"code": code, "message": message}]}, headers)


def _error_ticket(code: str, message: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "details": {"error": code}}


class ExpoEmulator:
    """Expo's send endpoint, in memory. Mark tokens with ``dead`` and ``throttled``; read ``received``.

    ``access_token`` makes the fake require ``Authorization: Bearer <token>`` (enhanced push security).
    ``throttled[token] = n`` answers ``MessageRateExceeded`` to the next ``n`` messages for ``token``.
    """

    name = "expo"

    def __init__(self, *, access_token: str | None = None) -> None:
        self.access_token = access_token
        self.dead: set[str] = set()
        self.throttled: Counter[str] = Counter()
        self.received: list[dict[str, Any]] = []
        self.requests: list[SandboxRequest] = []
        self._lock = threading.Lock()

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request as Expo would."""
        with self._lock:
            self.requests.append(request)
        if request.path.partition("?")[0] != SEND_PATH:
            return _errors(404, "NOT_FOUND", f"no route for {request.path}")
        if request.method != "POST":
            return _errors(405, "METHOD_NOT_ALLOWED", "use POST")
        if self.access_token is not None and request.headers.get("authorization") != f"Bearer {self.access_token}":
            return _errors(401, "UNAUTHORIZED", "the bearer token is invalid")
        try:
            document = json.loads(request.body)
        except ValueError:
            return _errors(400, "VALIDATION_ERROR", "the request body is not JSON")
        messages = document if isinstance(document, list) else [document]
        if not messages or len(messages) > MAX_MESSAGES:
            return _errors(400, "VALIDATION_ERROR", f"send between 1 and {MAX_MESSAGES} messages per request")
        tickets = []
        for message in messages:
            to = message.get("to") if isinstance(message, dict) else None
            if not isinstance(to, str) or not _TOKEN.fullmatch(to):
                return _errors(400, "VALIDATION_ERROR", '"to" must be an Expo push token')
            tickets.append(self._ticket(message, to))
        return json_response(200, {"data": tickets})

    def _ticket(self, message: dict[str, Any], to: str) -> dict[str, Any]:
        size = len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())
        with self._lock:
            if to in self.dead:
                return _error_ticket("DeviceNotRegistered", f'"{to}" is not a registered push notification recipient')
            if self.throttled[to] > 0:
                self.throttled[to] -= 1
                return _error_ticket("MessageRateExceeded", "too many messages to this device, back off")
            if size > MAX_MESSAGE_BYTES:
                return _error_ticket("MessageTooBig", f"the message is {size} bytes, over {MAX_MESSAGE_BYTES}")
            self.received.append(message)
        return {"status": "ok", "id": str(uuid.uuid4())}

    def target_of(self, request: SandboxRequest) -> str | None:
        """The first message's ``to``, for per-target faults. Never raises."""
        try:
            document = json.loads(request.body)
        except ValueError:
            return None
        first = document[0] if isinstance(document, list) and document else document
        to = first.get("to") if isinstance(first, dict) else None
        return to if isinstance(to, str) else None

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """Expo's own answer for a scripted fault."""
        if fault.kind == "invalid_token":
            ticket = _error_ticket(
                fault.reason or "DeviceNotRegistered", "not a registered push notification recipient"
            )
            return json_response(200, {"data": [ticket]})
        if fault.kind == "expired_credential":
            return _errors(401, "UNAUTHORIZED", "the bearer token is invalid")
        if fault.kind == "bad_token":
            return _errors(400, "VALIDATION_ERROR", '"to" must be an Expo push token')
        headers = {"retry-after": fault.retry_after} if fault.retry_after else None
        code = fault.reason or ("TOO_MANY_REQUESTS" if fault.status == 429 else "INTERNAL_SERVER_ERROR")
        return _errors(fault.status, code, "scripted fault", headers)


class ExpoServer:
    """``with ExpoServer() as server``: the fake on 127.0.0.1 over TLS, in a background thread.

    ``server.base_url`` goes to ``Expo(base_url=...)``, ``server.ca_path`` to the client's ``verify=``.
    """

    def __init__(self, emulator: ExpoEmulator | None = None) -> None:
        self.emulator = emulator if emulator is not None else ExpoEmulator()
        self.faults = Faults()
        self._directory = tempfile.TemporaryDirectory(prefix="expo-fake-")
        self.tls: SandboxTLS = create_tls(Path(self._directory.name))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="expo-fake", daemon=True)
        self._server: SandboxServer | None = None

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        assert self._server is not None, "the server is not started"
        return self._server.base_url

    @property
    def ca_path(self) -> str:
        """The CA that signed the server's certificate (pass it as ``verify=``)."""
        return str(self.tls.ca_path)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def __enter__(self) -> ExpoServer:
        self._thread.start()
        server = SandboxServer(
            self.emulator, ssl_context=self.tls.server_context(http1=True), faults=self.faults, allow_http1=True
        )
        self._run(server.start())
        self._server = server
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._server is not None:
                self._run(self._server.close(grace=0.5))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
            self._directory.cleanup()
