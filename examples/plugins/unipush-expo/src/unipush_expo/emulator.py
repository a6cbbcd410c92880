"""An emulator of Expo's push API for unipush's sandbox: ``Sandbox(emulators=[ExpoEmulator()])``.

``ExpoEmulator`` answers ``POST /--/api/v2/push/send`` as Expo does (docs.expo.dev, "Sending
notifications with Expo's push API"): a JSON array of at most 100 messages in, ``{"data": [ticket,
...]}`` out in request order, ``DeviceNotRegistered`` tickets for tokens marked dead,
``MessageRateExceeded`` for tokens marked throttled, ``MessageTooBig`` over 4096 bytes, and
request-level ``{"errors": [...]}`` for a bad body or a wrong access token. Each accepted message is a
``Delivery`` in the sandbox's inbox (``provider="expo"``, ``target`` the push token, ``payload`` the
message, ``message_id`` the ticket id).

It is a ``unipush.sandbox.EmulatorBase``, so the sandbox serves it beside APNs, FCM and Web Push, on its
own port over real TLS, with HTTP/2 (what unipush's own engine speaks) and HTTP/1.1 (for
``http_client=httpx``), and its scripted faults (``sandbox.fail(503, provider="expo")``)::

    from unipush import PushClient
    from unipush.sandbox import Sandbox
    from unipush_expo import Expo
    from unipush_expo.emulator import ExpoEmulator

    with Sandbox(emulators=[ExpoEmulator()]) as sandbox:
        expo = Expo(base_url=sandbox.url("expo"))
        with PushClient(providers=[expo], verify=sandbox.ssl_context()) as client:
            ...
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from unipush.sandbox import EmulatorBase, Fault, SandboxRequest, SandboxResponse, json_response

__all__ = ["MAX_MESSAGES", "MAX_MESSAGE_BYTES", "SEND_PATH", "ExpoEmulator"]

SEND_PATH = "/--/api/v2/push/send"
"""Expo's send endpoint."""

MAX_MESSAGES = 100
"""Expo: at most 100 messages per request."""

MAX_MESSAGE_BYTES = 4096
"""Expo: a message's JSON is at most 4096 bytes."""

_TOKEN = re.compile(r"(?:Exponent|Expo)PushToken\[[^\[\]\s]+\]")


def _errors(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    return json_response(status, {"errors": [{"code": code, "message": message}]}, headers)


def _error_ticket(code: str, message: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "details": {"error": code}}


class ExpoEmulator(EmulatorBase):
    """Expo's send endpoint for the sandbox. Mark tokens with ``dead`` and ``throttled``; read the inbox.

    ``access_token`` makes it require ``Authorization: Bearer <token>`` (enhanced push security).
    ``throttled[token] = n`` answers ``MessageRateExceeded`` to the next ``n`` messages for ``token``.
    ``requests`` keeps every request received, in order.
    """

    name = "expo"
    http1 = True  # Expo's API is served over HTTP/1.1 and HTTP/2

    def __init__(self, *, access_token: str | None = None) -> None:
        self.access_token = access_token
        self.dead: set[str] = set()
        self.throttled: Counter[str] = Counter()
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
            tickets.append(self._ticket(request, message, to))
        return json_response(200, {"data": tickets})

    def _ticket(self, request: SandboxRequest, message: dict[str, Any], to: str) -> dict[str, Any]:
        size = len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())
        with self._lock:
            if to in self.dead:
                return _error_ticket("DeviceNotRegistered", f'"{to}" is not a registered push notification recipient')
            if self.throttled[to] > 0:
                self.throttled[to] -= 1
                return _error_ticket("MessageRateExceeded", "too many messages to this device, back off")
        if size > MAX_MESSAGE_BYTES:
            return _error_ticket("MessageTooBig", f"the message is {size} bytes, over {MAX_MESSAGE_BYTES}")
        ticket_id = str(uuid.uuid4())
        # What the device receives; the access token stays out of the inbox.
        headers = {name: value for name, value in request.headers.items() if name != "authorization"}
        self.record(target=to, payload=message, raw=request.body, message_id=ticket_id, headers=headers)
        return {"status": "ok", "id": ticket_id}

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
