"""Issue 8, item 6, end to end: a provider's error text is quoted short, and a huge answer is refused.

Over the sandbox's real TLS + HTTP/2 sockets (and HTTP/1.1 through ``http_client=httpx``): a fault
answers with a body no real service sends. Under the engine's 256 KiB limit it is decoded and the
error quotes it cut short; over it the result is a ``TransportError`` naming the limit.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import httpx
import pytest

import unipush
from unipush import Notification, RetryPolicy, Target
from unipush._engine import MAX_RESPONSE_BODY
from unipush._excerpt import MAX_QUOTED
from unipush.sandbox import Fault, Sandbox

NOTIFICATION = Notification(title="Hi", body="there", deep_link="https://example.com/inbox")
# Far above the limit: the engine must not read it all (nor the sandbox send it all).
HUGE = b"x" * (10 * 1024 * 1024)
SHORT = 2 * MAX_QUOTED + 300  # room for two quotes and the fixed words of a message


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


@pytest.fixture(autouse=True)
def _no_faults(sandbox: Sandbox) -> Iterator[None]:
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()


def target_of(sandbox: Sandbox, provider: str) -> Target:
    if provider == "apns":
        return sandbox.apns_device()
    if provider == "fcm":
        return sandbox.fcm_device()
    return sandbox.subscribe()


# Error documents in each service's own shape, with every quoted field far too long (~200 KiB in all).
LONG_BODIES = {
    "apns": json.dumps({"reason": "R" * 200_000}).encode(),
    "fcm": json.dumps(
        {
            "error": {
                "code": 400,
                "message": "M" * 120_000,
                "status": "S" * 40_000,
                "details": [
                    {
                        "@type": "type.googleapis.com/google.firebase.fcm.v1.ApnsError",
                        "statusCode": "4" * 20_000,
                        "reason": "A" * 20_000,
                    }
                ]
                * 2,
            }
        }
    ).encode(),
    "webpush": json.dumps({"reason": "W" * 200_000}).encode(),
}


@pytest.mark.parametrize("provider", ["apns", "fcm", "webpush"])
def test_a_long_error_text_is_quoted_short(sandbox: Sandbox, provider: str) -> None:
    body = LONG_BODIES[provider]
    assert len(body) < MAX_RESPONSE_BODY  # read whole and decoded: the decoder must cut the quote
    sandbox.faults.add(Fault(kind="status", status=400, provider=provider, body=body))

    with sandbox.client(retry=RetryPolicy.never()) as client:
        result = client.send(NOTIFICATION, target_of(sandbox, provider))

    assert isinstance(result.error, unipush.ProviderError)
    assert result.status_code == 400
    text = str(result.error)
    assert len(text) < SHORT
    assert re.search(r"… \(\d{5,} (characters|bytes)\)", text)  # says it was cut, and how long the whole was
    assert len(repr(result)) < 2 * SHORT


@pytest.mark.parametrize("provider", ["fcm", "webpush"])
def test_a_long_plain_text_error_is_quoted_short(sandbox: Sandbox, provider: str) -> None:
    sandbox.faults.add(Fault(kind="status", status=400, provider=provider, body=b"plain text " * 20_000))

    with sandbox.client(retry=RetryPolicy.never()) as client:
        result = client.send(NOTIFICATION, target_of(sandbox, provider))

    assert isinstance(result.error, unipush.ProviderError)
    assert len(str(result.error)) < SHORT
    assert "(220000 bytes)" in str(result.error)


@pytest.mark.parametrize("provider", ["apns", "fcm", "webpush"])
def test_a_10_mb_error_body_is_a_transport_error(sandbox: Sandbox, provider: str) -> None:
    sandbox.faults.add(Fault(kind="status", status=500, provider=provider, body=HUGE))

    with sandbox.client(retry=RetryPolicy.never()) as client:
        target = target_of(sandbox, provider)
        result = client.send(NOTIFICATION, target)
        again = client.send(NOTIFICATION, target)  # the connection (or a new one) serves the next send

    assert isinstance(result.error, unipush.TransportError)
    assert f"over the limit of {MAX_RESPONSE_BODY} bytes" in str(result.error)
    assert len(str(result.error)) < 300
    assert again.ok


@pytest.mark.parametrize("http2", [True, False], ids=["httpx-h2", "httpx-http1"])
def test_the_limit_holds_for_an_httpx_client(sandbox: Sandbox, http2: bool) -> None:
    # FCM's sandbox also speaks HTTP/1.1, for httpx clients made without http2=True.
    sandbox.faults.add(Fault(kind="status", status=500, provider="fcm", body=HUGE))
    with (
        httpx.Client(http2=http2, verify=sandbox.ssl_context()) as http,
        sandbox.client(http_client=http, retry=RetryPolicy.never()) as client,
    ):
        device = sandbox.fcm_device()
        result = client.send(NOTIFICATION, device)
        again = client.send(NOTIFICATION, device)

    assert isinstance(result.error, unipush.TransportError)
    assert f"over the limit of {MAX_RESPONSE_BODY} bytes" in str(result.error)
    assert device.token not in str(result.error)
    assert again.ok


def test_the_limit_holds_for_an_httpx_async_client(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="status", status=503, provider="fcm", body=HUGE))

    async def send_twice() -> tuple[unipush.SendResult, unipush.SendResult]:
        async with (
            httpx.AsyncClient(http2=True, verify=sandbox.ssl_context()) as http,
            sandbox.async_client(http_client=http, retry=RetryPolicy.never()) as client,
        ):
            return await client.send(NOTIFICATION, sandbox.fcm_device()), await client.send(
                NOTIFICATION, sandbox.fcm_device()
            )

    result, again = asyncio.run(send_twice())

    assert isinstance(result.error, unipush.TransportError)
    assert "over the limit" in str(result.error)
    assert again.ok
