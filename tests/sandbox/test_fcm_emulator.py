"""The sandbox's FCM: OAuth token endpoint, messages:send validation (exact google.rpc.Status bodies), deliveries."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from unipush._model import Action, Notification
from unipush.fcm import FCM, FcmCondition, FcmDevice, FcmTopic
from unipush.fcm._oauth import HttpxAuthRequest
from unipush.sandbox._faults import Fault
from unipush.sandbox._inbox import Inbox
from unipush.sandbox._interface import SandboxRequest, SandboxResponse
from unipush.sandbox.emulators._fcm import (
    ACCESS_TOKEN_LIFETIME,
    CLIENT_EMAIL,
    CLOUD_PLATFORM_SCOPE,
    DETAIL_HEADER,
    FCM_SCOPE,
    FcmEmulator,
)

BASE = "https://127.0.0.1:8444"
NOW = 1_800_000_000.0
PROJECT = "unipush-sandbox"
SEND_PATH = f"/v1/projects/{PROJECT}/messages:send"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def emulator_transport(emulator: FcmEmulator, calls: list[SandboxRequest]) -> HttpxAuthRequest:
    """unipush's own google-auth transport, over an httpx transport answered by the emulator in-process."""

    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        assert url.startswith(BASE)
        sandbox_request = SandboxRequest(
            method=request.method,
            path=url.removeprefix(BASE),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.content,
        )
        calls.append(sandbox_request)
        response = emulator.respond(sandbox_request)
        return httpx.Response(response.status, headers=dict(response.headers), content=response.body)

    return HttpxAuthRequest(httpx.Client(transport=httpx.MockTransport(answer)))


class Harness:
    def __init__(self, directory: Path) -> None:
        self.clock = Clock()
        self.inbox = Inbox()
        self.emulator = FcmEmulator(self.inbox, directory, lambda: BASE, clock=self.clock)
        self.device = self.emulator.new_device()
        self.access_token = self.emulator.mint_access_token()

    def assertion(self, **overrides: Any) -> str:
        claims: dict[str, Any] = {
            "iss": CLIENT_EMAIL,
            "aud": "https://oauth2.googleapis.com/token",
            "scope": FCM_SCOPE,
            "iat": int(NOW),
            "exp": int(NOW) + 3600,
        }
        key = overrides.pop("key", self.emulator.private_key)
        kid = overrides.pop("kid", self.emulator.private_key_id)
        claims.update(overrides)
        return jwt.encode(
            {k: v for k, v in claims.items() if v is not None},
            key,
            algorithm="RS256",
            headers={"kid": kid} if kid else None,
        )

    def token_request(self, form: Mapping[str, str], *, method: str = "POST") -> SandboxResponse:
        request = SandboxRequest(
            method=method,
            path="/token",
            headers={"content-type": "application/x-www-form-urlencoded"},
            body=urlencode(form).encode(),
        )
        return asyncio.run(self.emulator.handle(request))

    def send(
        self,
        message: Mapping[str, Any] | None = None,
        *,
        body: bytes | None = None,
        path: str = SEND_PATH,
        method: str = "POST",
        token: str | None = "default",
        **extra: Any,
    ) -> SandboxResponse:
        if body is None:
            document: dict[str, Any] = {"message": {"token": self.device} if message is None else message}
            document.update(extra)
            body = json.dumps(document).encode()
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {self.access_token if token == 'default' else token}"
        request = SandboxRequest(method=method, path=path, headers=headers, body=body)
        return asyncio.run(self.emulator.handle(request))


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def error_of(response: SandboxResponse) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    document = json.loads(response.body)
    assert set(document) == {"error"}
    error = document["error"]
    assert isinstance(error, dict)
    return error


def invalid_argument(field: str, description: str) -> dict[str, Any]:
    """FCM's own INVALID_ARGUMENT: FcmError + BadRequest."""
    return {
        "code": 400,
        "message": description,
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            {"@type": BAD_REQUEST, "fieldViolations": [{"field": field, "description": description}]},
        ],
    }


def proto_error(*violations: tuple[str | None, str]) -> dict[str, Any]:
    """A JSON-to-proto error from Google's front end: BadRequest only."""
    entries = [{"field": f, "description": d} if f else {"description": d} for f, d in violations]
    return {
        "code": 400,
        "message": "\n".join(d for _, d in violations),
        "status": "INVALID_ARGUMENT",
        "details": [{"@type": BAD_REQUEST, "fieldViolations": entries}],
    }


# ---------------------------------------------------------------------------------------------- credentials


def test_service_account_file_is_written_lazily(tmp_path: Path) -> None:
    base: list[str] = []
    emulator = FcmEmulator(Inbox(), tmp_path, lambda: base[0])
    assert not (tmp_path / "service-account.json").exists()
    base.append(BASE)  # the server binds
    path = emulator.service_account_path
    assert path == tmp_path / "service-account.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    info = json.loads(path.read_text())
    assert info["type"] == "service_account"
    assert info["project_id"] == PROJECT
    assert info["client_email"] == "sandbox@unipush-sandbox.iam.gserviceaccount.com"
    assert info["token_uri"] == BASE + "/token"
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert re.fullmatch(r"[0-9a-f]{40}", info["private_key_id"])
    assert re.fullmatch(r"\d{21}", info["client_id"])
    assert emulator.service_account_path == path  # written once
    assert "PRIVATE" not in repr(emulator)


def test_google_auth_loads_the_file(harness: Harness) -> None:
    creds = service_account.Credentials.from_service_account_file(
        str(harness.emulator.service_account_path), scopes=[FCM_SCOPE]
    )
    assert creds.service_account_email == CLIENT_EMAIL
    assert creds.project_id == PROJECT


def test_new_device_tokens_look_real_and_are_fresh(harness: Harness) -> None:
    tokens = {harness.emulator.new_device() for _ in range(10)}
    assert len(tokens) == 10
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}:APA91b[A-Za-z0-9_-]{134}", token) for token in tokens)


# ---------------------------------------------------------------------------------------------- token endpoint


def test_google_auth_refresh_gets_a_working_token(harness: Harness) -> None:
    creds = service_account.Credentials.from_service_account_file(
        str(harness.emulator.service_account_path), scopes=[FCM_SCOPE]
    )
    calls: list[SandboxRequest] = []
    transport = emulator_transport(harness.emulator, calls)
    harness.clock.now = datetime.now(timezone.utc).timestamp()  # google-auth stamps iat with the real clock
    creds.refresh(transport)
    assert [call.path for call in calls] == ["/token"]
    assert harness.emulator.token_requests == 1
    assert isinstance(creds.token, str)
    assert creds.token.startswith("ya29.")
    assert creds.expiry is not None
    response = harness.send(token=creds.token)
    assert response.status == 200, response.body


def test_token_endpoint_success_body(harness: Harness) -> None:
    response = harness.token_request(
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": harness.assertion()}
    )
    assert response.status == 200
    document = json.loads(response.body)
    assert set(document) == {"access_token", "expires_in", "token_type"}
    assert document["expires_in"] == ACCESS_TOKEN_LIFETIME == 3599
    assert document["token_type"] == "Bearer"
    assert harness.send(token=document["access_token"]).status == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": BASE + "/token"},
        {"aud": "https://www.googleapis.com/oauth2/v4/token"},
        {"scope": CLOUD_PLATFORM_SCOPE},
        {"scope": f"openid {FCM_SCOPE}"},
        {"kid": None},  # Google tries every key of the account when there is no kid
    ],
)
def test_token_endpoint_accepts(harness: Harness, claims: dict[str, Any]) -> None:
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": harness.assertion(**claims)}
    assert harness.token_request(form).status == 200


SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        (
            {"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)},
            "invalid_grant",
            "Invalid JWT Signature.",
        ),
        ({"kid": "0" * 40}, "invalid_grant", "Invalid JWT Signature."),
        ({"iss": "someone@else.iam.gserviceaccount.com"}, "invalid_grant", "Invalid grant: account not found"),
        (
            {"aud": "https://example.com/token"},
            "invalid_grant",
            f"Invalid JWT: Failed audience check. The right audience is {BASE}/token",
        ),
        ({"exp": int(NOW) + 7200}, "invalid_grant", SHORT_LIVED),
        ({"iat": int(NOW) - 7200, "exp": int(NOW) - 3600}, "invalid_grant", SHORT_LIVED),
        ({"iat": int(NOW) + 3600, "exp": int(NOW) + 4000}, "invalid_grant", SHORT_LIVED),
        ({"exp": None}, "invalid_grant", SHORT_LIVED),
        ({"iat": "now"}, "invalid_grant", SHORT_LIVED),
        ({"scope": None}, "invalid_scope", "Invalid OAuth scope or ID token audience provided."),
        ({"scope": " "}, "invalid_scope", "Invalid OAuth scope or ID token audience provided."),
    ],
    ids=["key", "kid", "iss", "aud", "too-long", "expired", "future", "no-exp", "bad-iat", "no-scope", "blank-scope"],
)
def test_token_endpoint_refuses_bad_assertions(
    harness: Harness, claims: dict[str, Any], error: str, description: str
) -> None:
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": harness.assertion(**claims)}
    response = harness.token_request(form)
    assert response.status == 400
    assert json.loads(response.body) == {"error": error, "error_description": description}
    assert response.headers[DETAIL_HEADER]


@pytest.mark.parametrize(
    ("form", "status", "error", "description"),
    [
        ({}, 400, "invalid_request", "Missing required parameter: grant_type"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type", "Invalid grant_type: client_credentials"),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"},
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        ),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "garbage"},
            400,
            "invalid_grant",
            "Invalid JWT Signature.",
        ),
    ],
)
def test_token_endpoint_refuses_bad_forms(
    harness: Harness, form: dict[str, str], status: int, error: str, description: str
) -> None:
    response = harness.token_request(form)
    assert response.status == status
    assert json.loads(response.body) == {"error": error, "error_description": description}


def test_token_endpoint_hs256_is_refused(harness: Harness) -> None:
    forged = jwt.encode(
        {"iss": CLIENT_EMAIL, "aud": BASE + "/token", "scope": FCM_SCOPE, "iat": int(NOW), "exp": int(NOW) + 60},
        "a-shared-secret-of-at-least-32-bytes!",
        algorithm="HS256",
    )
    response = harness.token_request({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": forged})
    assert json.loads(response.body)["error_description"] == "Invalid JWT Signature."


def test_token_endpoint_only_takes_post(harness: Harness) -> None:
    response = harness.token_request({}, method="GET")
    assert response.status == 405
    assert json.loads(response.body)["error"] == "invalid_request"
    assert harness.emulator.token_requests == 1


def test_token_requests_are_counted(harness: Harness) -> None:
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": harness.assertion()}
    for _ in range(3):
        harness.token_request(form)
    harness.token_request({})
    assert harness.emulator.token_requests == 4


# ---------------------------------------------------------------------------------------------- send: auth


def test_missing_credentials(harness: Harness) -> None:
    response = harness.send(token=None)
    assert response.status == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    assert error_of(response) == {
        "code": 401,
        "message": (
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
            "or other valid authentication credential. "
            "See https://developers.google.com/identity/sign-in/web/devconsole-project."
        ),
        "status": "UNAUTHENTICATED",
        "details": [
            {
                "@type": ERROR_INFO,
                "reason": "CREDENTIALS_MISSING",
                "domain": "googleapis.com",
                "metadata": {
                    "service": "fcm.googleapis.com",
                    "method": "google.firebase.fcm.v1.FcmService.SendMessage",
                },
            }
        ],
    }


def test_unknown_token_is_unauthenticated_without_fcm_error(harness: Harness) -> None:
    response = harness.send(token="ya29.made-up")
    assert response.status == 401
    assert error_of(response) == {"code": 401, "message": BAD_CREDENTIALS, "status": "UNAUTHENTICATED"}


def test_expire_tokens(harness: Harness) -> None:
    assert harness.send().status == 200
    harness.emulator.expire_tokens()
    response = harness.send()
    assert response.status == 401
    error = error_of(response)
    assert error["status"] == "UNAUTHENTICATED"
    assert error["message"] == BAD_CREDENTIALS
    assert [d["reason"] for d in error["details"]] == ["ACCESS_TOKEN_EXPIRED"]
    assert all(d["@type"] != FCM_ERROR for d in error["details"])
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    harness.access_token = harness.emulator.mint_access_token()
    assert harness.send().status == 200


def test_tokens_expire_with_time(harness: Harness) -> None:
    harness.clock.now = NOW + ACCESS_TOKEN_LIFETIME - 1
    assert harness.send().status == 200
    harness.clock.now = NOW + ACCESS_TOKEN_LIFETIME
    assert error_of(harness.send())["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_wrong_scheme_is_unauthenticated(harness: Harness) -> None:
    response = harness.send(token=None, body=None)
    assert response.status == 401
    request = SandboxRequest(
        method="POST", path=SEND_PATH, headers={"authorization": f"Basic {harness.access_token}"}, body=b"{}"
    )
    assert asyncio.run(harness.emulator.handle(request)).status == 401


def test_insufficient_scope(harness: Harness) -> None:
    token = harness.emulator.mint_access_token(["https://www.googleapis.com/auth/userinfo.email"])
    response = harness.send(token=token)
    assert response.status == 403
    error = error_of(response)
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"] == "Request had insufficient authentication scopes."
    assert [d["reason"] for d in error["details"]] == ["ACCESS_TOKEN_SCOPE_INSUFFICIENT"]


def test_cloud_platform_scope_is_enough(harness: Harness) -> None:
    assert harness.send(token=harness.emulator.mint_access_token([CLOUD_PLATFORM_SCOPE])).status == 200


def test_other_project_is_permission_denied(harness: Harness) -> None:
    response = harness.send(path="/v1/projects/other-project/messages:send")
    assert response.status == 403
    error = error_of(response)
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"] == (
        "Permission 'cloudmessaging.messages.create' denied on resource "
        "'//cloudresourcemanager.googleapis.com/projects/other-project' (or it may not exist)."
    )
    assert all(d["@type"] != FCM_ERROR for d in error["details"])


def test_project_number_is_accepted(harness: Harness) -> None:
    number = harness.emulator.project_number
    response = harness.send(path=f"/v1/projects/{number}/messages:send")
    assert response.status == 200
    assert json.loads(response.body)["name"].startswith(f"projects/{number}/messages/")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/projects/unipush-sandbox/messages"), ("GET", SEND_PATH), ("POST", "/v1/send"), ("POST", "/")],
)
def test_unknown_routes_are_html_404(harness: Harness, method: str, path: str) -> None:
    response = harness.send(method=method, path=path)
    assert response.status == 404
    assert response.headers["content-type"] == "text/html; charset=UTF-8"
    assert b"Error 404 (Not Found)" in response.body


def test_self_signed_jwt_is_an_access_token(harness: Harness) -> None:
    # AIP-4111 (google-auth's always_use_jwt_access): the service account's own JWT, aud = the API.
    token = harness.assertion(aud="https://fcm.googleapis.com/", scope=None)
    assert harness.send(token=token).status == 200
    scoped = harness.assertion(aud="https://other.example/", scope=FCM_SCOPE)
    assert harness.send(token=scoped).status == 200
    unscoped = harness.assertion(aud="https://other.example/", scope=None)
    assert harness.send(token=unscoped).status == 401
    forged = harness.assertion(aud="https://fcm.googleapis.com/", key=rsa.generate_private_key(65537, 2048))
    assert harness.send(token=forged).status == 401


# ---------------------------------------------------------------------------------------------- send: success


def test_send_to_token_is_answered_and_recorded(harness: Harness) -> None:
    message = {
        "token": harness.device,
        "notification": {"title": "Order shipped", "body": "#1234"},
        "data": {"order": "1234", "collapse_key": "allowed"},
        "android": {"collapseKey": "order-1234", "priority": "HIGH", "ttl": "3600s"},
        "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"badge": 1}}},
        "webpush": {"headers": {"TTL": "3600"}, "notification": {"actions": [{"action": "a", "title": "A"}]}},
    }
    response = harness.send(message)
    assert response.status == 200
    name = json.loads(response.body)["name"]
    assert re.fullmatch(rf"projects/{PROJECT}/messages/0:\d+%[0-9a-f]{{16}}", name)
    [delivery] = harness.inbox.all()
    assert delivery.provider == "fcm"
    assert delivery.target == harness.device
    assert delivery.payload == message  # as sent, camelCase kept
    assert delivery.message_id == name
    assert delivery.received_at == datetime.fromtimestamp(NOW, tz=timezone.utc)
    assert "authorization" not in delivery.headers
    assert delivery.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("message", "target"),
    [
        ({"topic": "news"}, "news"),
        ({"topic": "a-b_c.d~e%f"}, "a-b_c.d~e%f"),
        (
            {"condition": "'a' in topics && ('b' in topics || 'c' in topics)"},
            "'a' in topics && ('b' in topics || 'c' in topics)",
        ),
        ({"condition": "!('a' in topics)"}, "!('a' in topics)"),
        ({"condition": '"a" in topics'}, '"a" in topics'),
    ],
)
def test_send_to_topic_and_condition(harness: Harness, message: dict[str, Any], target: str) -> None:
    assert harness.send(message).status == 200
    assert harness.inbox.all()[0].target == target


def test_camel_case_and_snake_case_are_both_accepted(harness: Harness) -> None:
    message = {
        "token": harness.device,
        "fcmOptions": {"analyticsLabel": "x"},
        "android": {
            "restricted_package_name": "com.example",
            "directBootOk": True,
            "notification": {
                "channelId": "c",
                "notification_priority": "PRIORITY_HIGH",
                "visibility": 2,  # enums by number too
                "notificationCount": "3",  # int32 as a string, as proto3 JSON allows
                "eventTime": "2026-01-01T00:00:00.5Z",
                "vibrateTimings": ["0.5s", "1s"],
                "lightSettings": {"color": {"red": 1, "green": 0.5, "blue": 0}, "lightOnDuration": "1s"},
                "color": "#aaBB00",
                "title_loc_args": ["a"],
            },
        },
        "notification": None,  # null = not set
    }
    assert harness.send(message, validateOnly=False).status == 200


def test_validate_only_is_not_delivered(harness: Harness) -> None:
    for key in ("validate_only", "validateOnly"):
        extra: dict[str, Any] = {key: True}
        response = harness.send(**extra)
        assert response.status == 200
        assert json.loads(response.body) == {"name": f"projects/{PROJECT}/messages/fake_message_id"}
    assert not harness.inbox.all()


def test_unknown_well_formed_tokens_are_accepted(harness: Harness) -> None:
    assert harness.send({"token": "x" * 32}).status == 200


def test_payload_limit_is_inclusive(harness: Harness) -> None:
    # data keys + values: "k" (1) + value
    assert harness.send({"token": harness.device, "data": {"k": "v" * 4095}}).status == 200
    assert harness.send({"topic": "news", "data": {"k": "v" * 2047}}).status == 200
    assert harness.send({"topic": "news", "notification": {"title": "t" * 2043}}).status == 200  # "title" is 5


def test_ttl_bounds_are_inclusive(harness: Harness) -> None:
    for ttl in ("0s", "2419200s", "3.5s", "2419199.999999999s"):
        assert harness.send({"token": harness.device, "android": {"ttl": ttl}}).status == 200, ttl


# ---------------------------------------------------------------------------------------------- send: FCM rules


@pytest.mark.parametrize(
    ("message", "field", "description"),
    [
        ({}, "message", "Recipient of the message is not set."),
        ({"token": ""}, "message", "Recipient of the message is not set."),
        ({"token": "DEVICE", "data": {"from": "x"}}, "message.data", "Invalid data payload key: from"),
        ({"token": "DEVICE", "data": {"message_type": "x"}}, "message.data", "Invalid data payload key: message_type"),
        ({"token": "DEVICE", "data": {"google.x": "1"}}, "message.data", "Invalid data payload key: google.x"),
        (
            {"token": "DEVICE", "data": {"gcm.notification.x": "1"}},
            "message.data",
            "Invalid data payload key: gcm.notification.x",
        ),
        (
            {"token": "DEVICE", "android": {"data": {"google.y": "1"}}},
            "message.android.data",
            "Invalid data payload key: google.y",
        ),
        (
            {"token": "DEVICE", "android": {"ttl": "2419201s"}},
            "message.android.ttl",
            "TTL must be between 0s and 2419200s (4 weeks).",
        ),
        (
            {"token": "DEVICE", "android": {"ttl": "2419200.000000001s"}},
            "message.android.ttl",
            "TTL must be between 0s and 2419200s (4 weeks).",
        ),
        (
            {"token": "DEVICE", "android": {"ttl": "-1s"}},
            "message.android.ttl",
            "TTL must be between 0s and 2419200s (4 weeks).",
        ),
        (
            {"token": "DEVICE", "android": {"notification": {"color": "red"}}},
            "message.android.notification.color",
            "Invalid color value: red. Use #rrggbb.",
        ),
        (
            {"token": "DEVICE", "android": {"notification": {"color": "#abc"}}},
            "message.android.notification.color",
            "Invalid color value: #abc. Use #rrggbb.",
        ),
        (
            {"token": "DEVICE", "android": {}, "androidV2": {}},
            "message.android_v2",
            "android_v2 cannot be combined with android.",
        ),
        (
            {"token": "DEVICE", "webpush": {"fcm_options": {"link": "http://example.com"}}},
            "message.webpush.fcm_options.link",
            "The link must use HTTPS.",
        ),
        (
            {"topic": "/topics/news"},
            "message.topic",
            "Invalid topic name: /topics/news. Allowed characters: [a-zA-Z0-9-_.~%]",
        ),
        ({"topic": "a b"}, "message.topic", "Invalid topic name: a b. Allowed characters: [a-zA-Z0-9-_.~%]"),
        (
            {"condition": " || ".join(f"'t{i}' in topics" for i in range(6))},
            "message.condition",
            "Invalid condition expression: 6 topics; at most 5 are allowed",
        ),
        ({"condition": "'a' in topics &&"}, "message.condition", "Invalid condition expression: malformed expression"),
        ({"condition": "('a' in topics"}, "message.condition", "Invalid condition expression: malformed expression"),
        (
            {"condition": "'a' in topics 'b' in topics"},
            "message.condition",
            "Invalid condition expression: malformed expression",
        ),
        (
            {"condition": "a in topics"},
            "message.condition",
            "Invalid condition expression: unexpected text at position 0",
        ),
        (
            {"condition": "'a b' in topics"},
            "message.condition",
            "Invalid condition expression: invalid topic name 'a b'",
        ),
        ({"condition": "()"}, "message.condition", "Invalid condition expression: no 'topic' in topics clause"),
        ({"token": "DEVICE", "data": {"k": "v" * 4096}}, "message", "Android message is too big"),
        ({"topic": "news", "data": {"k": "v" * 2048}}, "message", "Android message is too big"),
        ({"condition": "'a' in topics", "notification": {"body": "é" * 1023}}, "message", "Android message is too big"),
    ],
)
def test_fcm_rules(harness: Harness, message: dict[str, Any], field: str, description: str) -> None:
    if message.get("token") == "DEVICE":
        message = {**message, "token": harness.device}
    response = harness.send(message)
    assert response.status == 400
    assert error_of(response) == invalid_argument(field, description)
    assert not harness.inbox.all()


@pytest.mark.parametrize("token", ["short", "x" * 31, "has space " * 5, "ü" * 40, "a" * 4097, "a/b" * 20])
def test_malformed_registration_token(harness: Harness, token: str) -> None:
    response = harness.send({"token": token})
    assert response.status == 400
    assert error_of(response) == {
        "code": 400,
        "message": "The registration token is not a valid FCM registration token",
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
            },
        ],
    }


def test_invalidated_token_is_unregistered(harness: Harness) -> None:
    harness.emulator.invalidate(harness.device)
    runs: list[dict[str, Any]] = [{}, {"validate_only": True}]
    for extra in runs:  # a dry run checks the token too
        response = harness.send(**extra)
        assert response.status == 404
        assert error_of(response) == {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [{"@type": FCM_ERROR, "errorCode": "UNREGISTERED"}],
        }
    assert not harness.inbox.all()


# ---------------------------------------------------------------------------------------------- send: proto JSON


def test_body_that_is_not_json(harness: Harness) -> None:
    response = harness.send(body=b"{not json")
    assert response.status == 400
    assert error_of(response) == proto_error((None, "Invalid JSON payload received. Unexpected token."))


def test_unknown_top_level_name(harness: Harness) -> None:
    response = harness.send(dry_run=True)
    assert error_of(response) == proto_error(
        (None, 'Invalid JSON payload received. Unknown name "dry_run": Cannot find field.')
    )


def test_every_violation_is_reported(harness: Harness) -> None:
    message = {"token": harness.device, "titel": "x", "android": {"priority": "URGENT", "colapse_key": "k"}}
    response = harness.send(message)
    assert error_of(response) == proto_error(
        ("message", "Invalid JSON payload received. Unknown name \"titel\" at 'message': Cannot find field."),
        (
            "message.android.priority",
            "Invalid value at 'message.android.priority' "
            '(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "URGENT"',
        ),
        (
            "message.android",
            "Invalid JSON payload received. Unknown name \"colapse_key\" at 'message.android': Cannot find field.",
        ),
    )


V1 = "type.googleapis.com/google.firebase.fcm.v1."
DURATION = "type.googleapis.com/google.protobuf.Duration"
NOTIFICATION = "message.android.notification"


def bad(path: str, label: str, shown: str) -> tuple[str, str]:
    """A field violation for a value of the wrong type: (field, description)."""
    return path, f"Invalid value at '{path}' ({label}), {shown}"


@pytest.mark.parametrize(
    ("message", "violation"),
    [
        ({"data": {"a": "1", "b": 2}}, bad("message.data[1].value", "TYPE_STRING", "2")),
        ({"data": {"a": True}}, bad("message.data[0].value", "TYPE_STRING", "true")),
        (
            {"data": {"a": {"b": "c"}}},
            bad("message.data[0].value", "TYPE_STRING", "Starting an object on a scalar field"),
        ),
        ({"data": "x"}, bad("message.data", V1 + "Message.DataEntry", '"x"')),
        ({"android": {"ttl": "10"}}, bad("message.android.ttl", DURATION, '"10"')),
        ({"android": {"ttl": 10}}, bad("message.android.ttl", DURATION, "10")),
        ({"android": {"ttl": "1.0000000001s"}}, bad("message.android.ttl", DURATION, '"1.0000000001s"')),
        ({"android": {"priority": "high"}}, bad("message.android.priority", V1 + "AndroidMessagePriority", '"high"')),
        (
            {"android": {"notification": {"visibility": "HIDDEN"}}},
            bad(f"{NOTIFICATION}.visibility", V1 + "AndroidNotification.Visibility", '"HIDDEN"'),
        ),
        (
            {"android": {"notification": {"notificationPriority": "MAX"}}},
            bad(f"{NOTIFICATION}.notification_priority", V1 + "AndroidNotification.NotificationPriority", '"MAX"'),
        ),
        ({"android": {"notification": {"sticky": "yes"}}}, bad(f"{NOTIFICATION}.sticky", "TYPE_BOOL", '"yes"')),
        (
            {"android": {"notification": {"notification_count": 1.5}}},
            bad(f"{NOTIFICATION}.notification_count", "TYPE_INT32", "1.5"),
        ),
        (
            {"android": {"notification": {"notification_count": 2**31}}},
            bad(f"{NOTIFICATION}.notification_count", "TYPE_INT32", str(2**31)),
        ),
        (
            {"android": {"notification": {"event_time": "yesterday"}}},
            bad(f"{NOTIFICATION}.event_time", "type.googleapis.com/google.protobuf.Timestamp", '"yesterday"'),
        ),
        (
            {"android": {"notification": {"vibrate_timings": ["1s", "x"]}}},
            bad(f"{NOTIFICATION}.vibrate_timings[1]", DURATION, '"x"'),
        ),
        (
            {"android": {"notification": {"body_loc_args": "x"}}},
            bad(f"{NOTIFICATION}.body_loc_args", "TYPE_STRING", '"x"'),
        ),
        ({"notification": "hello"}, bad("message.notification", V1 + "Notification", '"hello"')),
        (
            {"apns": {"payload": []}},
            (
                "message.apns",
                "Invalid JSON payload received. Unknown name \"payload\" at 'message.apns': "
                "Proto field is not repeating, cannot start list.",
            ),
        ),
        (
            {"apns": {"payload": "x"}},
            bad("message.apns.payload", "type.googleapis.com/google.protobuf.Struct", '"x"'),
        ),
        ({"webpush": {"headers": {"TTL": 60}}}, bad("message.webpush.headers[0].value", "TYPE_STRING", "60")),
        (
            {"topic": "news"},
            ("message", "Invalid JSON payload received. Oneof field 'target' is already set. Cannot set 'topic'"),
        ),
    ],
)
def test_proto_json_errors(harness: Harness, message: dict[str, Any], violation: tuple[str, str]) -> None:
    response = harness.send({"token": harness.device, **message})
    assert response.status == 400
    assert error_of(response) == proto_error(violation)
    assert not harness.inbox.all()


def test_message_must_be_an_object(harness: Harness) -> None:
    response = harness.send(body=b'{"message": []}')
    assert error_of(response) == proto_error(
        (
            None,
            'Invalid JSON payload received. Unknown name "message": Proto field is not repeating, cannot start list.',
        )
    )
    response = harness.send(body=b"[]")
    assert error_of(response) == proto_error(
        (None, "Invalid value at '' (type.googleapis.com/google.firebase.fcm.v1.SendMessageRequest), []")
    )


# ---------------------------------------------------------------------------------------------- faults, targets


def send_request(harness: Harness, message: Mapping[str, Any] | None = None) -> SandboxRequest:
    body = json.dumps({"message": message if message is not None else {"token": harness.device}}).encode()
    return SandboxRequest(method="POST", path=SEND_PATH, headers={}, body=body)


@pytest.mark.parametrize(
    ("status", "status_name", "code", "message"),
    [
        (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for the project's downstream messages."),
        (500, "INTERNAL", "INTERNAL", "Internal error encountered."),
        (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
        (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Request contains an invalid argument."),
        (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
        (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    ],
)
def test_status_faults(harness: Harness, status: int, status_name: str, code: str, message: str) -> None:
    response = harness.emulator.fault_response(Fault(kind="status", status=status), send_request(harness))
    assert response.status == status
    assert error_of(response) == {
        "code": status,
        "message": message,
        "status": status_name,
        "details": [{"@type": FCM_ERROR, "errorCode": code}],
    }
    assert "retry-after" not in response.headers


def test_status_fault_without_fcm_code(harness: Harness) -> None:
    response = harness.emulator.fault_response(Fault(kind="status", status=401), send_request(harness))
    assert error_of(response) == {"code": 401, "message": BAD_CREDENTIALS, "status": "UNAUTHENTICATED"}
    response = harness.emulator.fault_response(Fault(kind="status", status=502), send_request(harness))
    assert error_of(response) == {"code": 502, "message": "Injected error.", "status": "INTERNAL"}


def test_fault_retry_after_and_reason(harness: Harness) -> None:
    fault = Fault(kind="status", status=429, retry_after="30", reason="UNSPECIFIED_ERROR")
    response = harness.emulator.fault_response(fault, send_request(harness))
    assert response.headers["retry-after"] == "30"
    assert error_of(response)["details"] == [{"@type": FCM_ERROR, "errorCode": "UNSPECIFIED_ERROR"}]
    fault = Fault(kind="invalid_token", reason="SENDER_ID_MISMATCH", retry_after="5")
    response = harness.emulator.fault_response(fault, send_request(harness))
    assert response.status == 404
    assert response.headers["retry-after"] == "5"
    assert error_of(response)["details"] == [{"@type": FCM_ERROR, "errorCode": "SENDER_ID_MISMATCH"}]


def test_kind_faults(harness: Harness) -> None:
    emulator, request = harness.emulator, send_request(harness)
    unregistered = emulator.fault_response(Fault(kind="invalid_token"), request)
    assert unregistered.status == 404
    assert error_of(unregistered)["details"] == [{"@type": FCM_ERROR, "errorCode": "UNREGISTERED"}]
    bad = emulator.fault_response(Fault(kind="bad_token"), request)
    assert bad.status == 400
    assert error_of(bad)["message"] == "The registration token is not a valid FCM registration token"
    expired = emulator.fault_response(Fault(kind="expired_credential"), request)
    assert expired.status == 401
    error = error_of(expired)
    assert error["status"] == "UNAUTHENTICATED"
    assert all(d["@type"] != FCM_ERROR for d in error["details"])


def test_target_of(harness: Harness) -> None:
    emulator = harness.emulator
    assert emulator.target_of(send_request(harness)) == harness.device
    assert emulator.target_of(send_request(harness, {"topic": "news"})) == "news"
    assert emulator.target_of(send_request(harness, {"condition": "'a' in topics"})) == "'a' in topics"
    for body in (b"", b"{", b"[]", b'{"message": 1}', b'{"message": {"token": 5}}', b"\xff"):
        assert emulator.target_of(SandboxRequest(method="POST", path=SEND_PATH, headers={}, body=body)) is None
    token = SandboxRequest(method="POST", path="/token", headers={}, body=b"assertion=x")
    assert emulator.target_of(token) is None


def test_faults_apply_to_sends_not_to_oauth(harness: Harness) -> None:
    assert harness.emulator.accepts_fault(send_request(harness))
    assert not harness.emulator.accepts_fault(SandboxRequest(method="POST", path="/token", headers={}, body=b""))


# ---------------------------------------------------------------------------------------------- unipush end to end


@pytest.mark.parametrize(
    ("notification", "target"),
    [
        (
            Notification(
                title="Order shipped",
                body="#1234 is on its way",
                subtitle="Express",
                deep_link="https://shop.example/o/1234",
                image="https://cdn.example/box.png",
                badge=1,
                sound="default",
                collapse_key="order-1234",
                ttl=3600,
                priority="high",
                actions=[Action(id="track", title="Track")],
                data={"order": "1234"},
            ),
            "device",
        ),
        (Notification(content_available=True, data={"sync": "1"}), "device"),
        (Notification(title="News", body="Today"), FcmTopic("news")),
        (Notification(title="News"), FcmCondition("'a' in topics && !('b' in topics)")),
    ],
    ids=["rich", "data-only", "topic", "condition"],
)
def test_what_unipush_renders_is_accepted_and_recorded(
    harness: Harness, notification: Notification, target: Any
) -> None:
    config = FCM(service_account=harness.emulator.service_account_path, base_url=BASE)
    if target == "device":
        target = FcmDevice(harness.device)
    prepared = config.prepare(notification, target, now=datetime.fromtimestamp(NOW, tz=timezone.utc))
    request = SandboxRequest(
        method=prepared.method,
        path=prepared.url.removeprefix(BASE),
        headers={**prepared.headers, "authorization": f"Bearer {harness.access_token}"},
        body=prepared.body,
    )
    response = asyncio.run(harness.emulator.handle(request))
    assert response.status == 200, response.body
    [delivery] = harness.inbox.all()
    assert prepared.payload is not None
    assert delivery.payload == prepared.payload["message"]
    assert delivery.target == target.key
