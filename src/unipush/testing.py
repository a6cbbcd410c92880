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

Example::

    def test_order_shipped_notifies_the_phone(push_sandbox, push_client):
        device = push_sandbox.apns_device()
        notify_order_shipped(push_client, device, order_id="1234")     # your code
        [delivery] = push_sandbox.inbox.for_target(device.token)
        assert delivery.payload["aps"]["alert"]["title"] == "Order shipped"
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from unipush._async import AsyncPushClient
from unipush._sync import PushClient
from unipush.sandbox import Sandbox

__all__ = ["async_push_client", "push_client", "push_sandbox"]


@pytest.fixture(scope="session")
def push_sandbox() -> Iterator[Sandbox]:
    """A sandbox shared by the test session (starts in well under a second)."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def push_client(push_sandbox: Sandbox) -> Iterator[PushClient]:
    """A ``PushClient`` wired to the sandbox; the sandbox's inbox and faults start empty."""
    push_sandbox.inbox.clear()
    push_sandbox.faults.clear()
    with push_sandbox.client() as client:
        yield client


@pytest.fixture
def async_push_client(push_sandbox: Sandbox) -> AsyncPushClient:
    """An ``AsyncPushClient`` wired to the sandbox; enter it with ``async with`` in your async test."""
    push_sandbox.inbox.clear()
    push_sandbox.faults.clear()
    return push_sandbox.async_client()
