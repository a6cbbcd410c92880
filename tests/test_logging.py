"""Logs on ``logging.getLogger("unipush")``: useful at DEBUG, with tokens shortened and credentials never shown."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from unipush import Notification, RetryPolicy
from unipush.sandbox import Fault, Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def test_debug_logs_name_the_target_shortened_and_never_a_credential(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    apns, fcm, web = sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()
    sandbox.invalidate(fcm.token, provider="fcm")
    sandbox.faults.add(Fault(kind="status", status=503, provider="apns", target=apns.token))
    n = Notification(title="hi", deep_link="https://example.com/")
    with (
        caplog.at_level(logging.DEBUG, logger="unipush"),
        sandbox.client(retry=RetryPolicy(initial_backoff=0.01, budget=None)) as client,
    ):
        batch = client.send_many(n, [apns, fcm, web])
        prepared = [client.render(n, t) for t in (apns, web)]
    assert [r.ok for r in batch] == [True, False, True]
    text = caplog.text
    assert apns.short() in text  # the retried APNs send is logged, by its short form
    secrets = [apns.token, fcm.token, web.auth, web.p256dh]
    secrets += [p.headers["authorization"] for p in prepared]
    secrets += [p.headers["authorization"].split()[-1] for p in prepared]  # the bare JWT / VAPID token
    fcm_source = client.providers["fcm"].token_source  # type: ignore[attr-defined]
    assert fcm_source is not None
    assert fcm_source.current is not None
    secrets.append(fcm_source.current)
    leaked = [s for s in secrets if s in text]
    assert not leaked, "credentials or whole tokens in the logs"
    assert all(r.name.startswith("unipush") for r in caplog.records)
