"""The sandbox refuses what the real services refuse, seen from a plain HTTP/2 client (httpx, not unipush).

Each request starts as a valid one rendered by unipush's provider configs and is then broken in one way;
the answer must be the service's own status and error body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from unipush import Notification, PreparedRequest
from unipush.fcm import FcmDevice
from unipush.sandbox import Sandbox
from unipush.webpush import WebPush

NOW = datetime.now(timezone.utc)
N = Notification(title="Hi", body="there", deep_link="https://example.com/x")


@pytest.fixture(scope="module")
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(http2=True, verify=sandbox.ssl_context(), timeout=10) as client:
        yield client


def post(http: httpx.Client, prepared: PreparedRequest, **changes: Any) -> httpx.Response:
    headers = dict(prepared.headers)
    headers.update({k: v for k, v in changes.get("headers", {}).items() if v is not None})
    for name in changes.get("drop", ()):
        headers.pop(name, None)
    response = http.post(prepared.url, headers=headers, content=changes.get("body", prepared.body))
    assert response.http_version == "HTTP/2"
    return response


def fcm_token(sandbox: Sandbox) -> str:
    return sandbox.fcm.mint_access_token(["https://www.googleapis.com/auth/firebase.messaging"])


def test_valid_requests_are_accepted(sandbox: Sandbox, http: httpx.Client) -> None:
    apns = sandbox.apns_config().prepare(N, sandbox.apns_device(), now=NOW)
    assert post(http, apns).status_code == 200
    fcm = sandbox.fcm_config().prepare(N, sandbox.fcm_device(), now=NOW)
    assert post(http, fcm, headers={"authorization": f"Bearer {fcm_token(sandbox)}"}).status_code == 200
    web = sandbox.webpush_config().prepare(N, sandbox.subscribe(), now=NOW)
    assert post(http, web).status_code == 201


def test_apns_bad_jwt_is_403_invalid_provider_token(sandbox: Sandbox, http: httpx.Client) -> None:
    prepared = sandbox.apns_config().prepare(N, sandbox.apns_device(), now=NOW)
    forged = jwt.encode(
        {"iss": sandbox.apns.team_id, "iat": int(NOW.timestamp())},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": sandbox.apns.key_id},
    )
    response = post(http, prepared, headers={"authorization": f"bearer {forged}"})
    assert response.status_code == 403
    assert response.json() == {"reason": "InvalidProviderToken"}
    assert "apns-id" in response.headers


def test_apns_missing_topic_is_400_missing_topic(sandbox: Sandbox, http: httpx.Client) -> None:
    prepared = sandbox.apns_config().prepare(N, sandbox.apns_device(), now=NOW)
    response = post(http, prepared, drop=["apns-topic"])
    assert response.status_code == 400
    assert response.json() == {"reason": "MissingTopic"}


def test_apns_dead_token_is_410_with_timestamp(sandbox: Sandbox, http: httpx.Client) -> None:
    device = sandbox.apns_device()
    sandbox.invalidate(device.token, provider="apns")
    response = post(http, sandbox.apns_config().prepare(N, device, now=NOW))
    assert response.status_code == 410
    body = response.json()
    assert body["reason"] == "Unregistered"
    assert isinstance(body["timestamp"], int)


def test_fcm_reserved_data_key_is_400_invalid_argument(sandbox: Sandbox, http: httpx.Client) -> None:
    prepared = sandbox.fcm_config().prepare(N, sandbox.fcm_device(), now=NOW)
    message = json.loads(prepared.body)
    message["message"]["data"] = {"google.sent_time": "1"}
    response = post(
        http, prepared, body=json.dumps(message).encode(), headers={"authorization": f"Bearer {fcm_token(sandbox)}"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"} in error[
        "details"
    ]


def test_fcm_without_a_token_is_401_unauthenticated(sandbox: Sandbox, http: httpx.Client) -> None:
    prepared = sandbox.fcm_config().prepare(N, FcmDevice(sandbox.fcm_device().token), now=NOW)
    response = post(http, prepared, headers={"authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_webpush_missing_ttl_is_400(sandbox: Sandbox, http: httpx.Client) -> None:
    prepared = sandbox.webpush_config().prepare(N, sandbox.subscribe(), now=NOW)
    response = post(http, prepared, drop=["ttl"])
    assert response.status_code == 400


def test_webpush_wrong_vapid_key_is_refused(sandbox: Sandbox, http: httpx.Client) -> None:
    other_key = WebPush(
        vapid_private_key=ec.generate_private_key(ec.SECP256R1()),
        subject="mailto:ops@example.com",
        allow_local_endpoints=True,  # the sandbox's subscriptions are on 127.0.0.1
    )
    prepared = other_key.prepare(N, sandbox.subscribe(), now=NOW)  # subscribed with the sandbox's key
    response = post(http, prepared)
    assert response.status_code in (401, 403)
    assert response.json() == {"reason": "VapidPkHashMismatch"}


def test_webpush_undecryptable_body_is_400(sandbox: Sandbox, http: httpx.Client) -> None:
    subscription = sandbox.subscribe()
    prepared = sandbox.webpush_config().prepare(N, subscription, now=NOW)
    tampered = prepared.body[:-1] + bytes([prepared.body[-1] ^ 1])  # one bit of the GCM tag
    response = post(http, prepared, body=tampered)
    assert response.status_code == 400
    assert sandbox.inbox.for_target(subscription.endpoint) == []
