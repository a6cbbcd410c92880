"""pytest fixtures for testing your own code against the unipush sandbox.

Installed as a pytest plugin (entry point ``pytest11``), so the fixtures are available in any project
that has unipush installed, with no import:

* ``push_sandbox`` (session scope): a running ``unipush.sandbox.Sandbox`` — local APNs, FCM and Web
  Push services over real TLS, an ``inbox`` of what they accepted, and ``faults`` to script failures.
  Its inbox and faults are cleared before each test that uses ``push_client``.
* ``push_client``: a ``PushClient`` configured for the sandbox (all three providers), closed after the test.
  Its Web Push config has ``allow_local_endpoints=True`` (the sandbox's subscriptions are on 127.0.0.1,
  which a production config refuses) and a ``default_navigate`` (``Sandbox.client()``).
* ``async_push_client``: an ``AsyncPushClient`` configured for the sandbox. It opens its connections on
  the event loop of the test that first uses it; use it as ``async with async_push_client as client:``
  inside your async test so they are closed on that loop.

Both clients retry with ``fast_retry()``: the same attempts and decisions as the default
``RetryPolicy``, with backoffs of milliseconds instead of seconds, so a test of an outage
(``push_sandbox.fail(503, times=None)``) ends at once. Pass it to your own clients too, e.g. with a
``unipush.transports.MockTransport`` (docs/testing.md).

Example::

    def test_order_shipped_notifies_the_phone(push_sandbox, push_client):
        device = push_sandbox.apns_device()
        notify_order_shipped(push_client, device, order_id="1234")     # your code
        [delivery] = push_sandbox.inbox.for_target(device.token)
        assert delivery.payload["aps"]["alert"]["title"] == "Order shipped"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import google.auth.credentials
import pytest

from unipush._async import AsyncPushClient
from unipush._retry import RetryPolicy
from unipush._sync import PushClient
from unipush.sandbox import Sandbox

__all__ = ["OfflineCredentials", "async_push_client", "fast_retry", "push_client", "push_sandbox"]


def fast_retry(*, max_attempts: int = 4) -> RetryPolicy:
    """A ``RetryPolicy`` for tests: retries what the default retries, as often, without the real waits.

    The same decisions as ``RetryPolicy()`` (429, 5xx and transport errors retry; one credential
    refresh; permanent rejections never retry) and ``max_attempts`` counting the first attempt, but
    each backoff is 1 ms (no jitter, so runs repeat) and there is no ``RetryBudget`` (a test's few
    sends would otherwise be limited by it). A server's ``Retry-After`` is still honoured as given:
    script outages without it, or with ``retry_after="0"``.

    Example: ``PushClient(apns=..., retry=fast_retry())``; ``fast_retry(max_attempts=1)`` never retries.
    """
    return RetryPolicy(max_attempts=max_attempts, initial_backoff=0.001, max_backoff=0.001, jitter=0.0, budget=None)


class OfflineCredentials(google.auth.credentials.Credentials):
    """A google-auth credential that needs no network, for ``FCM`` in tests with a ``MockTransport``.

    FCM's OAuth2 access token comes from Google's token endpoint, outside the client's transport; this
    credential mints ``"offline-token-1"``, ``"offline-token-2"``... locally instead, one per refresh
    (``refresh_count`` counts them), so a mocked ``401`` shows the client refreshing once::

        FCM(credentials=OfflineCredentials(), project_id="demo-project")
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.refresh_count = 0

    def refresh(self, request: Any) -> None:
        """Mint the next token (``request``, google-auth's transport, is not used)."""
        self.refresh_count += 1
        self.token = f"offline-token-{self.refresh_count}"


@pytest.fixture(scope="session")
def push_sandbox() -> Iterator[Sandbox]:
    """A sandbox shared by the test session (starts in well under a second)."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def push_client(push_sandbox: Sandbox) -> Iterator[PushClient]:
    """A ``PushClient`` wired to the sandbox, retrying with ``fast_retry()``; the inbox and faults start empty."""
    push_sandbox.inbox.clear()
    push_sandbox.faults.clear()
    with push_sandbox.client(retry=fast_retry()) as client:
        yield client


@pytest.fixture
def async_push_client(push_sandbox: Sandbox) -> AsyncPushClient:
    """An ``AsyncPushClient`` wired to the sandbox (``fast_retry()``); enter it with ``async with`` in your test."""
    push_sandbox.inbox.clear()
    push_sandbox.faults.clear()
    return push_sandbox.async_client(retry=fast_retry())
