"""The sandbox's FCM: an OAuth2 token endpoint and ``POST /v1/projects/<project>/messages:send``.

**Credentials.** At construction the emulator makes an RSA-2048 service-account key. The service-account
JSON is written on first access to ``service_account_path`` (or by ``write_credentials()``), because its
``token_uri`` must point at this emulator's ``/token`` and the server's port is known only after it
binds. ``google.oauth2.service_account.Credentials.from_service_account_file(path, scopes=[...])`` works
with it unchanged.

**Token endpoint** (``POST /token``): see ``_oauth``.

**Send.** Checks run in the order Google's front end and FCM run them, and the first failure answers:

========  ==========================================  =========================================================
status    body (``google.rpc.Status``)                when
========  ==========================================  =========================================================
404       HTML "Not Found" page                       a path or method that is not ``POST .../messages:send``
401       ``UNAUTHENTICATED``, no FcmError            no bearer token, an unknown or expired one
403       ``PERMISSION_DENIED``, no FcmError          the token lacks the firebase.messaging / cloud-platform
                                                      scope, or the project is not this sandbox's
400       ``INVALID_ARGUMENT``, ``BadRequest`` only   the body is not a ``SendMessageRequest`` in proto3 JSON:
                                                      bad JSON, unknown names, wrong types, bad enums,
                                                      durations or timestamps, two targets (a oneof)
400       ``INVALID_ARGUMENT`` + FcmError             FCM's own rules: no target, reserved data keys, TTL over
          ``INVALID_ARGUMENT`` + ``BadRequest``       4 weeks, colour not ``#rrggbb``, topic characters,
                                                      condition syntax or more than 5 topics, ``android`` with
                                                      ``android_v2``, non-HTTPS webpush link, payload size
                                                      (4096 bytes; 2048 for topics and conditions), and a
                                                      registration token that cannot be one
404       ``NOT_FOUND`` + FcmError ``UNREGISTERED``   the token was ``invalidate()``-d
200       ``{"name": "projects/<p>/messages/<id>"}``  accepted (``validate_only``: ``.../fake_message_id``,
                                                      and nothing is recorded)
========  ==========================================  =========================================================

The schema and its parser are in ``_schema``, FCM's own rules in ``_rules``, the error bodies in ``_errors``.

Unknown but well-formed registration tokens are accepted, so users can send to any token. A
well-formed token is 32 to 4096 characters of ``[A-Za-z0-9_:-]`` (real ones are about 160, an instance
id, a colon and an ``APA91b...`` part: ``new_device()`` makes such tokens).

**Topics** (Instance ID server API, ``POST /iid/v1:batchAdd`` and ``/iid/v1:batchRemove``): the body is
``{"to": "/topics/<name>", "registration_tokens": [...]}`` (1 to 1,000 tokens), the credential the same bearer
token as for sends plus ``access_token_auth: true``. A refused call is ``{"error": "<CODE>"}`` (400
``INVALID_ARGUMENT`` for a malformed body, 401 ``UNAUTHENTICATED`` without ``access_token_auth``); otherwise 200
``{"results": [...]}``, one entry per token in order: ``{}``, ``NOT_FOUND`` (``invalidate()``-d),
``INVALID_ARGUMENT`` (not a token) or ``TOO_MANY_TOPICS`` (FCM's 2,000 topics per app instance). A send to a
topic is recorded under the topic and then once per live subscribed token; a condition reaches the tokens whose
topics satisfy it (parentheses first, then left to right, as FCM's topic guide says).

Faults (``fault_response``): 429 ``RESOURCE_EXHAUSTED``/``QUOTA_EXCEEDED``, 500 ``INTERNAL``, 503
``UNAVAILABLE`` and the other statuses of FCM's ErrorCode table; ``invalid_token`` is 404 ``UNREGISTERED``,
``bad_token`` 400 ``INVALID_ARGUMENT`` on the token, ``expired_credential`` a plain 401 ``UNAUTHENTICATED``.
Faults are meant for sends: ``accepts_fault()`` is False for the token endpoint, so that the server
can leave OAuth alone. Every error carries an ``x-unipush-sandbox-detail`` header that says in plain
words what was wrong (sandbox only).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from unipush.sandbox._faults import Fault
from unipush.sandbox._inbox import Delivery, Inbox
from unipush.sandbox._interface import EmulatorBase, SandboxRequest, SandboxResponse, json_response
from unipush.sandbox.emulators._common import write_private
from unipush.sandbox.emulators._fcm._errors import (
    BAD_CREDENTIALS,
    FAULTS,
    FCM_ERROR,
    Reject,
    error_info,
    iid_error,
    invalid_token,
    not_found_page,
    rpc_status,
    unauthenticated,
    unregistered,
    with_error_code,
)
from unipush.sandbox.emulators._fcm._oauth import FCM_SCOPE, URLSAFE, OAuthService
from unipush.sandbox.emulators._fcm._rules import TOKEN_CHARS, TOPIC_NAME, condition_matches, validate_message
from unipush.sandbox.emulators._fcm._schema import TARGETS, parse_send_request

__all__ = ["FcmEmulator"]

DEFAULT_PROJECT_ID = "unipush-sandbox"
"""The sandbox's Firebase project id."""

MAX_TOPIC_TOKENS = 1000
"""Instance ID server API: at most 1,000 registration tokens per batchAdd / batchRemove."""

MAX_TOPICS_PER_DEVICE = 2000
"""FCM topic messaging guide: one app instance can be subscribed to at most 2,000 topics."""

_SEND_PATH = re.compile(r"/v1/projects/(?P<project>[^/]+)/messages:send")
_IID_PATHS = {"/iid/v1:batchAdd": "subscribe", "/iid/v1:batchRemove": "unsubscribe"}


class FcmEmulator(EmulatorBase):
    """FCM HTTP v1 and its OAuth2 token endpoint for the sandbox, with its own service account.

    Args:
        inbox: where accepted messages are recorded.
        directory: where ``service-account.json`` is written (created if missing).
        base_url_getter: returns the server's ``https://127.0.0.1:<port>`` once it is bound.
        clock: seconds since the epoch; injectable for tests of token expiry.
        project_id: the Firebase project id sends must name.

    Attributes:
        project_id: the project id (``unipush-sandbox``); ``project_number`` is accepted as well.
        client_email: the service account's email.
        private_key_id: the service-account key id (the JWT ``kid``).
        token_requests: how many requests reached the token endpoint.
        topic_requests: how many requests reached ``iid/v1:batchAdd`` / ``:batchRemove``.
    """

    name = "fcm"
    # Google's front ends serve FCM and its OAuth token endpoint over HTTP/2 and HTTP/1.1 (google-auth's
    # token refresh uses HTTP/1.1).
    http1 = True

    def __init__(
        self,
        inbox: Inbox,
        directory: Path,
        base_url_getter: Callable[[], str],
        *,
        clock: Callable[[], float] = time.time,
        project_id: str = DEFAULT_PROJECT_ID,
    ) -> None:
        self._inbox = inbox
        self._directory = directory
        self._base_url = base_url_getter
        self._clock = clock
        self._oauth = OAuthService(base_url_getter, clock)
        self.project_id = project_id
        self.project_number = str(secrets.randbelow(9 * 10**11) + 10**11)
        self.client_id = str(secrets.randbelow(9 * 10**20) + 10**20)
        directory.mkdir(parents=True, exist_ok=True)
        self._path: Path | None = None
        self.topic_requests = 0
        self._lock = threading.Lock()
        self._dead: set[str] = set()
        # registration token -> the topics it is subscribed to (batchAdd / batchRemove); insertion order
        # is subscription order, so a topic send reaches devices in a stable order.
        self._device_topics: dict[str, set[str]] = {}

    def __repr__(self) -> str:
        return f"FcmEmulator(project_id={self.project_id!r}, client_email={self.client_email!r})"

    # ------------------------------------------------------------------ credentials

    @property
    def client_email(self) -> str:
        """The service account's email."""
        return self._oauth.client_email

    @property
    def private_key_id(self) -> str:
        """The service-account key id (the JWT ``kid``)."""
        return self._oauth.private_key_id

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The service account's RSA key."""
        return self._oauth.private_key

    @property
    def token_requests(self) -> int:
        """How many requests reached the token endpoint."""
        return self._oauth.token_requests

    @property
    def token_uri(self) -> str:
        """This emulator's OAuth2 token endpoint (needs the server to be bound)."""
        return self._oauth.token_uri

    @property
    def service_account_info(self) -> dict[str, str]:
        """The service-account JSON document, as ``Credentials.from_service_account_info`` takes it."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + self.client_email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }

    @property
    def service_account_path(self) -> Path:
        """``service-account.json`` in the sandbox directory, written on first access."""
        if self._path is None:
            return self.write_credentials()
        return self._path

    def write_credentials(self) -> Path:
        """(Re)write ``service-account.json`` now; call it once the server is bound. Returns the path."""
        path = self._directory / "service-account.json"
        write_private(path, json.dumps(self.service_account_info, indent=2).encode())
        self._path = path
        return path

    def mint_access_token(self, scopes: Sequence[str] = (FCM_SCOPE,)) -> str:
        """An access token issued directly, without the OAuth round trip (for plain-HTTP tests)."""
        return self._oauth.mint_access_token(scopes)

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid: the next send with one gets 401."""
        self._oauth.expire_tokens()

    # ------------------------------------------------------------------ devices

    def new_device(self) -> str:
        """A fresh registration token that looks like a real one (instance id ``:APA91b...``)."""
        instance = "".join(secrets.choice(URLSAFE) for _ in range(22))
        rest = "".join(secrets.choice(URLSAFE) for _ in range(134))
        return f"{instance}:APA91b{rest}"

    def invalidate(self, token: str) -> None:
        """Mark ``token`` unregistered: later sends to it get ``404 UNREGISTERED``, topic calls ``NOT_FOUND``,
        and topic sends no longer reach it."""
        with self._lock:
            self._dead.add(token)

    def subscriptions(self, token: str) -> frozenset[str]:
        """The topics ``token`` is subscribed to (through ``iid/v1:batchAdd``)."""
        with self._lock:
            return frozenset(self._device_topics.get(token, ()))

    def subscribers(self, topic: str) -> list[str]:
        """The live registration tokens subscribed to ``topic``, in subscription order."""
        with self._lock:
            return [t for t, topics in self._device_topics.items() if topic in topics and t not in self._dead]

    # ------------------------------------------------------------------ Emulator protocol

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request as FCM (or Google's token endpoint) would."""
        return self.respond(request)

    def respond(self, request: SandboxRequest) -> SandboxResponse:
        """The synchronous core of ``handle``."""
        try:
            path = request.path.split("?", 1)[0]
            if path == "/token":
                return self._oauth.token_endpoint(request)
            if path in _IID_PATHS:
                return self._topic_management(request, _IID_PATHS[path])
            return self._send(request)
        except Reject as rejected:
            return rejected.response

    def target_of(self, request: SandboxRequest) -> str | None:
        """The message's token, topic or condition (from the JSON body); None when there is none."""
        if not request.path.endswith("/messages:send"):
            return None
        try:
            document = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return None
        message = document.get("message") if isinstance(document, dict) else None
        if not isinstance(message, dict):
            return None
        for key in TARGETS:
            value = message.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    def accepts_fault(self, request: SandboxRequest) -> bool:
        """Whether scripted faults apply to ``request``: sends yes, the OAuth token endpoint no."""
        return request.path.split("?", 1)[0] != "/token"

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """FCM's answer for an injected fault; ``fault.reason`` overrides the FcmError ``errorCode``."""
        detail = f"injected fault: {fault.kind}"
        headers = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
        if request.path.split("?", 1)[0] in _IID_PATHS and fault.kind != "expired_credential":
            # The Instance ID API answers a refused call with {"error": "<CODE>"}, not a google.rpc.Status.
            status = {"invalid_token": 404, "bad_token": 400}.get(fault.kind, fault.status)
            name = fault.reason or FAULTS.get(status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT",))[0]
            response = iid_error(status, name, detail)
        elif fault.kind == "invalid_token":
            response = unregistered(detail)
        elif fault.kind == "bad_token":
            response = invalid_token(detail)
        elif fault.kind == "expired_credential":
            response = unauthenticated(BAD_CREDENTIALS, "ACCESS_TOKEN_EXPIRED", detail, expired=True)
        else:
            status_name, code, message = FAULTS.get(
                fault.status,
                ("INTERNAL" if fault.status >= 500 else "FAILED_PRECONDITION", None, "Injected error."),
            )
            code = fault.reason or code
            details = [{"@type": FCM_ERROR, "errorCode": code}] if code is not None else []
            response = rpc_status(fault.status, status_name, message, details, detail)
        if fault.reason is not None and fault.kind != "status" and request.path.split("?", 1)[0] not in _IID_PATHS:
            response = with_error_code(response, fault.reason)
        if headers:
            response = SandboxResponse(
                status=response.status, headers={**response.headers, **headers}, body=response.body
            )
        return response

    # ------------------------------------------------------------------ messages:send

    def _send(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.split("?", 1)[0]
        match = _SEND_PATH.fullmatch(path)
        if match is None or request.method != "POST":
            # Google's front end answers unknown URLs (and other methods on a custom verb) with an HTML 404.
            return not_found_page(path)
        self._authorize(request.headers.get("authorization"), match["project"])
        raw_document, document = parse_send_request(request.body)
        message: dict[str, Any] = document.get("message", {})
        target_field, target = validate_message(message)
        if target_field == "token":
            with self._lock:
                dead = target in self._dead
            if dead:
                return unregistered("the token was invalidated (sandbox.invalidate)")
        project = match["project"]
        if document.get("validate_only"):
            # FCM: a dry run is checked like a real send but not delivered; the name is fixed.
            return json_response(200, {"name": f"projects/{project}/messages/fake_message_id"})
        now = self._clock()
        name = f"projects/{project}/messages/0:{int(now * 1_000_000)}%{secrets.token_hex(8)}"
        raw_message = raw_document["message"]
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        received_at = datetime.fromtimestamp(now, tz=timezone.utc)
        # Recorded under the target as sent (what FCM accepted), then, for a topic or a condition, once per
        # live subscribed token (what each device receives).
        receivers = [target]
        if target_field in ("topic", "condition"):
            receivers.extend(self._reached_by(target_field, target))
        for receiver in receivers:
            self._inbox.record(
                Delivery(
                    provider=self.name,
                    target=receiver,
                    headers=headers,
                    payload=raw_message,
                    raw=request.body,
                    message_id=name,
                    received_at=received_at,
                )
            )
        return json_response(200, {"name": name})

    def _reached_by(self, target_field: str, target: str) -> list[str]:
        """The live tokens a topic or condition send reaches, in subscription order."""
        with self._lock:
            devices = [(t, set(topics)) for t, topics in self._device_topics.items() if t not in self._dead]
        if target_field == "topic":
            return [token for token, topics in devices if target in topics]
        return [token for token, topics in devices if condition_matches(target, topics)]

    # ------------------------------------------------------------------ iid/v1:batchAdd, :batchRemove

    def _topic_management(self, request: SandboxRequest, operation: str) -> SandboxResponse:
        """Instance ID server API: (un)subscribe up to 1,000 registration tokens to one topic."""
        with self._lock:
            self.topic_requests += 1
        if request.method != "POST":
            return not_found_page(request.path.split("?", 1)[0])
        if request.headers.get("access_token_auth", "").lower() != "true":
            # Without it IID reads Authorization as a legacy server key, which no OAuth token is.
            return iid_error(401, "UNAUTHENTICATED", "no 'access_token_auth: true' header with the OAuth token")
        self._authorize(request.headers.get("authorization"), None)
        try:
            document = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return iid_error(400, "INVALID_ARGUMENT", "the body is not JSON")
        if not isinstance(document, dict):
            return iid_error(400, "INVALID_ARGUMENT", "the body is not a JSON object")
        to, tokens = document.get("to"), document.get("registration_tokens")
        topic = to.removeprefix("/topics/") if isinstance(to, str) else ""
        if not isinstance(to, str) or not to.startswith("/topics/") or not TOPIC_NAME.fullmatch(topic):
            return iid_error(400, "INVALID_ARGUMENT", "'to' must be /topics/<name>, the name in [a-zA-Z0-9-_.~%]")
        if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
            return iid_error(400, "INVALID_ARGUMENT", "'registration_tokens' must be a non-empty list of strings")
        if len(tokens) > MAX_TOPIC_TOKENS:
            return iid_error(400, "INVALID_ARGUMENT", f"{len(tokens)} registration tokens; at most {MAX_TOPIC_TOKENS}")
        results: list[dict[str, str]] = []
        with self._lock:
            for token in tokens:
                if not TOKEN_CHARS.fullmatch(token):
                    results.append({"error": "INVALID_ARGUMENT"})
                elif token in self._dead:
                    results.append({"error": "NOT_FOUND"})
                elif operation == "unsubscribe":
                    self._device_topics.get(token, set()).discard(topic)
                    results.append({})
                else:
                    topics = self._device_topics.setdefault(token, set())
                    if topic not in topics and len(topics) >= MAX_TOPICS_PER_DEVICE:
                        results.append({"error": "TOO_MANY_TOPICS"})
                    else:
                        topics.add(topic)
                        results.append({})
        return json_response(200, {"results": results})

    def _authorize(self, authorization: str | None, project: str | None) -> None:
        self._oauth.authorize(authorization)
        if project is not None and project not in (self.project_id, self.project_number):
            raise Reject(
                rpc_status(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'cloudmessaging.messages.create' denied on resource "
                    f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
                    [error_info("IAM_PERMISSION_DENIED", permission="cloudmessaging.messages.create")],
                    f"this sandbox's project is {self.project_id!r}",
                )
            )
