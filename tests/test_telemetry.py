"""OpenTelemetry metrics and spans of real sends through the sandbox, read by the SDK's in-memory reader
and exporter (docs/monitoring.md); ``on_result``; ``BatchResult.summary()``; no secret in any attribute."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.otel_support import Telemetry, attrs, telemetry
from unipush import Notification, RetryPolicy, SendResult, Target, format_summary
from unipush.sandbox import Fault, Sandbox

ROOT = Path(__file__).resolve().parent.parent
FAST = RetryPolicy(initial_backoff=0.01, jitter=0.0)


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    with telemetry().recording() as recording:
        yield recording


def note() -> Notification:
    return Notification(title="Order shipped", body="On its way")


def test_a_batch_with_dead_tokens_a_429_a_reset_and_a_credential_refresh(otel: Telemetry) -> None:
    # A sandbox of its own: new keys, so each credential is minted here (and counted) exactly once.
    with Sandbox() as sandbox:
        _batch_with_faults(otel, sandbox)


def _batch_with_faults(otel: Telemetry, sandbox: Sandbox) -> None:
    a, b, c = sandbox.apns_device(), sandbox.apns_device(), sandbox.apns_device()
    d, e, h = sandbox.fcm_device(), sandbox.fcm_device(), sandbox.fcm_device()
    f, g = sandbox.subscribe(), sandbox.subscribe()
    sandbox.invalidate(b)
    sandbox.invalidate(e)
    sandbox.fail(429, target=c, retry_after=0)
    sandbox.faults.add(Fault(kind="expired_credential", provider="fcm", target=h.key))
    sandbox.faults.add(Fault(kind="reset", provider="webpush", target=g.key))
    targets: list[Target] = [a, b, c, d, e, h, f, g]
    seen: list[SendResult] = []
    with sandbox.client(retry=FAST, on_result=seen.append) as client:
        batch = client.send_many(note(), targets)
    assert [r.ok for r in batch] == [True, False, True, True, False, True, True, True]
    assert sorted(id(r) for r in seen) == sorted(id(r) for r in batch)  # on_result: once per result

    points = otel.points()
    assert points["unipush.notifications"] == {
        attrs(system="apns", outcome="delivered"): 2,
        attrs(system="apns", outcome="invalid_token", reason="Unregistered"): 1,
        attrs(system="fcm", outcome="delivered"): 2,
        attrs(system="fcm", outcome="invalid_token", reason="UNREGISTERED"): 1,
        attrs(system="webpush", outcome="delivered"): 2,
    }
    assert points["unipush.send.duration"] == {
        attrs(system="apns", outcome="delivered"): 2,
        attrs(system="apns", outcome="invalid_token"): 1,
        attrs(system="fcm", outcome="delivered"): 2,
        attrs(system="fcm", outcome="invalid_token"): 1,
        attrs(system="webpush", outcome="delivered"): 2,
    }
    assert points["unipush.attempts"] == {
        attrs(system="apns"): 4,
        attrs(system="fcm"): 4,
        attrs(system="webpush"): 3,
    }
    assert points["unipush.retries"] == {
        attrs(system="apns", unipush__retry__cause="429"): 1,
        attrs(system="fcm", unipush__retry__cause="credential_refresh"): 1,
        attrs(system="webpush", unipush__retry__cause="transport"): 1,
    }
    assert points["unipush.credential.mints"] == {
        attrs(system="apns", unipush__credential="apns_jwt"): 1,
        attrs(system="fcm", unipush__credential="oauth_token"): 2,  # the first, and the one after the 401
        attrs(system="webpush", unipush__credential="vapid_jwt"): 1,
    }
    connections = points["unipush.connections"]
    assert sorted(v for k, v in connections.items() if ("unipush.connection.event", "opened") in k) == [1, 1, 1]
    assert sorted(v for k, v in connections.items() if ("unipush.connection.event", "closed") in k) == [1, 1, 1]
    assert sum(v for k, v in connections.items() if ("unipush.connection.event", "goaway") in k) == 0
    assert all(("server.address", "127.0.0.1") in k for k in connections)
    in_flight = points.get("unipush.in_flight", {})
    assert all(value == 0 for value in in_flight.values()), in_flight  # every send that began ended

    spans = otel.spans()
    sends = [s for s in spans if s.name.startswith("send ") and s.name != "send batch"]
    (batch_span,) = [s for s in spans if s.name == "send batch"]
    assert len(sends) == 8
    assert {link.context.span_id for link in batch_span.links} == {s.context.span_id for s in sends}
    assert batch_span.attributes is not None
    assert batch_span.attributes["messaging.batch.message_count"] == 8
    by_target = {str(s.attributes["unipush.target"]): s for s in sends if s.attributes}
    assert sorted(by_target) == sorted(t.short() for t in targets)

    retried = by_target[c.short()]
    assert retried.attributes is not None
    assert retried.attributes["unipush.attempts"] == 2
    assert "unipush.outcome" not in retried.attributes  # delivered: only a failure says its outcome
    assert retried.attributes["messaging.message.id"] == batch[2].message_id
    first, second = retried.events
    status = "http.response.status_code"
    assert dict(first.attributes or {}) == {"unipush.attempt": 1, status: 429, "error.type": "TooManyRequests"}
    assert dict(second.attributes or {}) == {"unipush.attempt": 2, status: 200, "unipush.retry.cause": "429"}

    reset = by_target[g.short()]
    assert [dict(ev.attributes or {}).get("error.type") for ev in reset.events] == ["TransportError", None]
    dead = by_target[b.short()]
    assert dead.attributes is not None
    assert (dead.attributes["unipush.outcome"], dead.attributes["error.type"]) == ("invalid_token", "Unregistered")
    assert dead.status.status_code.name == "ERROR"
    assert [s.name for s in sends].count("send fcm") == 3

    # No secret and no whole token anywhere: span, event and metric attributes.
    values = [str(v) for s in spans for v in (s.attributes or {}).values()]
    values += [str(v) for s in spans for ev in s.events for v in (ev.attributes or {}).values()]
    values += [str(v) for series in points.values() for key in series for _, v in key]
    secrets = [t.key for t in targets] + [f.auth, f.p256dh, g.auth, g.p256dh]
    for value in values:
        assert not any(secret in value for secret in secrets), value
        assert not re.search(r"eyJ[\w-]{10,}|Bearer|vapid t=|PRIVATE KEY|ya29", value), value


def test_goaway_is_counted_and_its_request_still_delivered(otel: Telemetry, sandbox: Sandbox) -> None:
    device = sandbox.fcm_device()
    with sandbox.client(retry=FAST) as client:
        assert client.send(note(), sandbox.fcm_device()).ok  # the connection is open
        sandbox.faults.add(Fault(kind="goaway", provider="fcm", target=device.key))
        result = client.send(note(), device)
    assert result.ok
    port = int(sandbox.fcm_url.rsplit(":", 1)[1].split("/")[0])
    connections = otel.points()["unipush.connections"]
    where = {"server.address": "127.0.0.1", "server.port": port}
    assert connections == {
        attrs(unipush__connection__event="opened", **where): 2,  # the first, and the one after GOAWAY
        attrs(unipush__connection__event="goaway", **where): 1,
        attrs(unipush__connection__event="closed", **where): 2,
    }


def test_async_client_send_and_stream_with_async_on_result(otel: Telemetry, sandbox: Sandbox) -> None:
    seen: list[str] = []

    async def record(result: SendResult) -> None:
        await asyncio.sleep(0)
        seen.append(result.target.key)

    targets: list[Target] = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]

    async def main() -> None:
        async with sandbox.async_client(on_result=record) as client:
            assert (await client.send(note(), targets[0])).ok
            results = [r async for r in client.stream((note(), t) for t in targets)]
            assert all(r.ok for r in results)

    asyncio.run(main())
    assert sorted(seen) == sorted([targets[0].key] + [t.key for t in targets])
    spans = otel.spans()
    assert sorted(s.name for s in spans) == ["send apns", "send apns", "send batch", "send fcm", "send webpush"]
    (batch,) = [s for s in spans if s.name == "send batch"]
    single = min(spans, key=lambda s: s.start_time or 0)  # the lone send, before the stream began
    assert single.name == "send apns"
    linked = {link.context.span_id for link in batch.links}
    assert len(linked) == 3
    assert single.context.span_id not in linked  # the lone send is not in the batch
    assert otel.points()["unipush.notifications"] == {
        attrs(system="apns", outcome="delivered"): 2,
        attrs(system="fcm", outcome="delivered"): 1,
        attrs(system="webpush", outcome="delivered"): 1,
    }


def test_items_never_sent_are_counted_as_failed(otel: Telemetry, sandbox: Sandbox) -> None:
    with sandbox.client() as client:
        results = list(client.stream([(note(), sandbox.apns_device()), ("not a pair",)]))  # type: ignore[list-item]
    assert sorted(r.ok for r in results) == [False, True]
    assert otel.points()["unipush.notifications"] == {
        attrs(system="apns", outcome="delivered"): 1,
        attrs(system="unknown", outcome="failed", reason="ValidationError"): 1,
    }


def test_on_result_must_be_callable_and_plain_for_the_sync_client(sandbox: Sandbox) -> None:
    from unipush import ConfigurationError

    async def hook(result: SendResult) -> None:
        return None

    with pytest.raises(ConfigurationError, match="on_result must be callable"):
        sandbox.client(on_result=42)
    with pytest.raises(ConfigurationError, match="PushClient needs a plain on_result"):
        sandbox.client(on_result=hook)


def test_a_failing_on_result_is_logged_not_raised(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    def broken(result: SendResult) -> None:
        raise RuntimeError("the metrics backend is down")

    with sandbox.client(on_result=broken) as client:
        assert client.send(note(), sandbox.apns_device()).ok
    assert "on_result callback failed for apns" in caplog.text


def test_summary_counts_by_provider_outcome_and_reason(sandbox: Sandbox) -> None:
    dead, rejected = sandbox.fcm_device(), sandbox.apns_device()
    sandbox.invalidate(dead)
    sandbox.faults.add(Fault(kind="status", provider="apns", target=rejected.key, status=400, reason="BadTopic"))
    targets: list[Target] = [sandbox.apns_device(), rejected, sandbox.fcm_device(), dead, sandbox.fcm_device()]
    with sandbox.client(retry=FAST) as client:
        summary = client.send_many(note(), targets).summary()
    assert [(c.provider, c.outcome, c.reason, c.count) for c in summary.counts] == [
        ("apns", "delivered", "", 1),
        ("apns", "rejected", "BadTopic", 1),
        ("fcm", "delivered", "", 2),
        ("fcm", "invalid_token", "UNREGISTERED", 1),
    ]
    assert summary.total == 5
    assert summary.count(outcome="delivered") == 3
    assert summary.count(provider="fcm") == 3
    assert (
        str(summary)
        == format_summary(summary.counts)
        == textwrap.dedent("""\
        provider  outcome        reason        count   share
        apns      delivered      -                 1   20.0%
        apns      rejected       BadTopic          1   20.0%
        fcm       delivered      -                 2   40.0%
        fcm       invalid_token  UNREGISTERED      1   20.0%
        total                                      5  100.0%""")
    )


BLOCKER = """
import sys
class Blocker:
    tried = []
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            Blocker.tried.append(name)
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Blocker())
"""

SEND = """
import sys
import unipush
from unipush import Notification
from unipush.sandbox import Sandbox
assert not [m for m in sys.modules if m.startswith("opentelemetry")], "imported by import unipush"
with Sandbox() as sandbox, sandbox.client() as client:
    targets = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
    assert client.send(Notification(title="hi"), targets[0]).ok
    assert all(r.ok for r in client.send_many(Notification(title="hi"), targets))
print("loaded:", sorted(m for m in sys.modules if m.startswith("opentelemetry"))[:1])
"""


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_opentelemetry_sending_imports_none_of_it_and_tries_once() -> None:
    out = _python(BLOCKER + SEND + "print('tried:', Blocker.tried)\n")
    assert "loaded: []" in out
    assert "tried: ['opentelemetry']" in out  # one failed import for the whole process, then nothing


def test_import_unipush_never_imports_opentelemetry_a_send_does_when_installed() -> None:
    # SEND asserts nothing was imported by ``import unipush``; the API is imported by the first send.
    out = _python(SEND)
    assert "loaded: ['opentelemetry" in out


def test_unipush_send_prints_the_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    from unipush.cli import main

    assert main(["send", "--sandbox", "--title", "Hi", "--link", "https://example.com/"]) == 0
    out = capsys.readouterr().out
    assert (
        textwrap.dedent("""\
        provider  outcome    reason  count   share
        apns      delivered  -           1   33.3%
        fcm       delivered  -           1   33.3%
        webpush   delivered  -           1   33.3%
        total                            3  100.0%
        """)
        in out
    )


def test_a_send_span_is_a_child_of_the_callers_span_even_from_the_sync_client(
    otel: Telemetry, sandbox: Sandbox
) -> None:
    from opentelemetry import trace

    with sandbox.client() as client, trace.get_tracer("app").start_as_current_span("POST /orders") as request:
        assert client.send(note(), sandbox.apns_device()).ok  # sent on the client's own loop thread
    (send,) = [s for s in otel.spans() if s.name == "send apns"]
    assert send.parent is not None
    assert send.parent.span_id == request.get_span_context().span_id


LATE_SDK = """
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from unipush import Notification
from unipush.sandbox import Sandbox

with Sandbox() as sandbox, sandbox.client() as client:
    assert client.send(Notification(title="before"), sandbox.apns_device()).ok  # no SDK yet: a no-op
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # configured after the client
    assert client.send(Notification(title="after"), sandbox.apns_device()).ok
data = reader.get_metrics_data()
assert data is not None
print("notifications:", [
    point.value
    for resource in data.resource_metrics
    for scope in resource.scope_metrics
    for metric in scope.metrics
    if metric.name == "unipush.notifications"
    for point in metric.data.data_points
])
"""


def test_an_sdk_configured_after_the_client_records_the_sends_made_from_then_on() -> None:
    assert "notifications: [1]" in _python(LATE_SDK)


METRICS_ONLY = """
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from unipush import Notification, _telemetry
from unipush.sandbox import Sandbox
from unipush.testing import fast_retry

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # metrics only: no tracer provider
with Sandbox() as sandbox:
    live, dead, busy = sandbox.apns_device(), sandbox.apns_device(), sandbox.apns_device()
    sandbox.invalidate(dead)
    sandbox.fail(429, target=busy, retry_after=0)
    with sandbox.client(retry=fast_retry()) as client:
        batch = client.send_many(Notification(title="metrics only"), [live, dead, busy])
assert [r.ok for r in batch] == [True, False, True]
assert _telemetry._otel is not None and not _telemetry._otel.tracing()
points = {}
for resource in reader.get_metrics_data().resource_metrics:
    for scope in resource.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                value = getattr(point, "value", None)
                points[(metric.name, tuple(sorted(point.attributes.items())))] = (
                    point.count if value is None else value
                )
for key in sorted(points):
    if key[0] in ("unipush.notifications", "unipush.attempts", "unipush.retries", "unipush.send.duration"):
        print(key[0], dict(key[1]), points[key])
"""


def test_metrics_without_a_tracer_provider_count_every_send_and_attempt() -> None:
    # Without a tracer provider a send skips its span and attempt events (docs/monitoring.md, "What it
    # costs"); the counts must not lose anything for it.
    out = _python(METRICS_ONLY)
    assert "unipush.attempts {'messaging.system': 'apns'} 4" in out  # 3 sends, one of them resent after 429
    assert "unipush.retries {'messaging.system': 'apns', 'unipush.retry.cause': '429'} 1" in out
    assert "'unipush.outcome': 'delivered'} 2" in out
    assert "'unipush.outcome': 'invalid_token'} 1" in out
    assert out.count("unipush.send.duration") == 2  # delivered and invalid_token, one histogram point each
