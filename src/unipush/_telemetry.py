"""OpenTelemetry metrics and traces, through the OpenTelemetry API only, plus the plain ``on_result`` hook.

unipush is an instrumented *library*: it calls the OpenTelemetry API (``pip install unipush[otel]``)
and never configures an SDK. Without an SDK the API is a no-op; with one (set by the application with
``metrics.set_meter_provider``/``trace.set_tracer_provider``, before or after the first send: the API's
proxies pick it up) every send shows up in the application's dashboards. Without ``opentelemetry-api``
installed, the first hook call tries the import once, fails, and every hook is a function call that
returns at once: nothing is imported at ``import unipush`` time, nothing is measurable per send
(``benchmarks/bench_telemetry.py``).

The client code calls one or two lines here at each point that matters (docs/monitoring.md has the
table of what is recorded):

- ``begin``/``end``: a send's first attempt starts, its final result is known (a span, the
  ``unipush.notifications`` count, the ``unipush.send.duration`` histogram, ``unipush.in_flight``);
- ``attempt`` and ``retry``: an attempt ended, a resend starts (``unipush.attempts``, ``unipush.retries``
  by cause, one span event per attempt);
- ``unsent``: a final result for a target never sent (closed client, a batch item that could not be
  routed or rendered);
- ``batch_begin``/``batch_end``: the span of a ``send_many``/``stream``, linked to the spans of its sends;
- ``connection``: the engine opened or closed a connection, or received GOAWAY;
- ``minted``: a credential was minted (APNs JWT, FCM OAuth token, VAPID JWT).

No attribute ever holds a secret or a whole token: a target appears as ``Target.short()`` only, and
errors as their class or the provider's reason code (never their message, which may quote a URL).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

from unipush._errors import ConfigurationError, TransportError
from unipush._results import Outcome, SendResult, outcome_of, reason_text
from unipush._targets import Target

if TYPE_CHECKING:
    from unipush._retry import RetryDecision

__all__ = [
    "attempt",
    "batch_begin",
    "batch_end",
    "begin",
    "call_result_hook",
    "check_result_hook",
    "connection",
    "end",
    "minted",
    "retry",
    "run_result_hook",
    "unsent",
]

logger = logging.getLogger("unipush")

SCOPE = "unipush"
# Semantic conventions (https://opentelemetry.io/docs/specs/semconv/messaging/): a push provider is the
# messaging system, a send is the "send" operation, a failure's class is error.type.
SYSTEM = "messaging.system"
OPERATION = "messaging.operation.name"
OUTCOME = "unipush.outcome"
ERROR_TYPE = "error.type"
# Seconds, the bucket boundaries OpenTelemetry's semantic conventions advise for client durations.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# A batch span keeps at most this many links (the SDK's own default limit is 128): a stream of a
# million sends must not hold a million span contexts.
MAX_BATCH_LINKS = 1000


class _Otel:
    """The instruments and the tracer, made once per process from the OpenTelemetry API.

    The counters are asynchronous (observable) instruments over plain in-process tallies: a send
    adds one to a dict under a lock (well under a microsecond) and the SDK reads the totals when it
    collects, instead of running its measurement pipeline several times per notification. Only the
    duration histogram records synchronously, once per final result.
    """

    def __init__(self) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.metrics import Observation
        from opentelemetry.trace import SpanKind, Status, StatusCode

        from unipush import __version__

        self.observation = Observation
        self.get_tracer_provider = trace.get_tracer_provider
        self.get_meter_provider = metrics.get_meter_provider
        # What the API returns while nothing is set: its proxies (the meter's class is private, hence by name).
        self.unset_tracer = trace.ProxyTracerProvider
        self.no_tracer = trace.NoOpTracerProvider
        self.configured = False
        self.tracing_on = False  # a tracer provider that records was seen (kept once seen)
        self.kind_producer = SpanKind.PRODUCER
        self.kind_internal = SpanKind.INTERNAL
        self.status = Status
        self.status_error = StatusCode.ERROR
        self.lock = threading.Lock()
        # Per instrument: {attribute set (a sorted tuple of pairs): total}.
        self.tallies: dict[str, dict[tuple[tuple[str, Any], ...], int]] = {}
        meter = metrics.get_meter(SCOPE, __version__)
        self.tracer = trace.get_tracer(SCOPE, __version__)
        self.duration = meter.create_histogram(
            "unipush.send.duration",
            unit="s",
            description="From a send's first attempt to its final result",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        counters = {
            "unipush.notifications": ("{notification}", "Final results, by provider, outcome and reason"),
            "unipush.attempts": ("{attempt}", "Requests made (first attempts and resends)"),
            "unipush.retries": ("{retry}", "Resends, by cause (429, 5xx, transport, credential refresh)"),
            "unipush.connections": ("{event}", "Connections opened and closed, GOAWAYs received"),
            "unipush.credential.mints": ("{credential}", "Credentials minted (APNs JWT, OAuth token, VAPID JWT)"),
        }
        for name, (unit, description) in counters.items():
            self.tallies[name] = {}
            meter.create_observable_counter(name, [self._observe(name)], unit=unit, description=description)
        # The sends in progress, per provider: set.add/discard need no lock (one C call each).
        self.live: dict[str, set[_Send]] = {}
        meter.create_observable_up_down_counter(
            "unipush.in_flight",
            [self._observe_live],
            unit="{notification}",
            description="Sends between their first attempt and their final result",
        )
        self.notifications = self.tallies["unipush.notifications"]
        self.attempts = self.tallies["unipush.attempts"]
        self.retries = self.tallies["unipush.retries"]
        self.connections = self.tallies["unipush.connections"]
        self.mints = self.tallies["unipush.credential.mints"]
        # Attribute dicts for the histogram are made once per distinct set and reused.
        self.attribute_sets: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}

    def _observe(self, name: str) -> Callable[[Any], list[Any]]:
        def observe(_options: Any) -> list[Any]:
            with self.lock:
                totals = list(self.tallies[name].items())
            return [self.observation(value, dict(key)) for key, value in totals]

        return observe

    def active(self) -> bool:
        """Whether the application configured an SDK (a global tracer or meter provider) by now.

        Until it does, the API hands out proxies that drop everything: a send then skips the work
        (a record, a span) whose result would be dropped. Providers are set once per process, so the
        answer, once yes, is kept; until then it costs two lookups per send.
        """
        if not self.configured:
            self.configured = (
                not isinstance(self.get_tracer_provider(), self.unset_tracer)
                or type(self.get_meter_provider()).__name__ != "_ProxyMeterProvider"
            )
        return self.configured

    def tracing(self) -> bool:
        """Whether spans can be recorded: the application set a tracer provider (not the API's proxy or no-op).

        Without one (metrics only), a send skips what only its span would use: the attempt events,
        their timestamps and the span itself.
        """
        if not self.tracing_on:
            provider = self.get_tracer_provider()
            self.tracing_on = not isinstance(provider, (self.unset_tracer, self.no_tracer))
        return self.tracing_on

    def _observe_live(self, _options: Any) -> list[Any]:
        return [self.observation(len(sends), {SYSTEM: name}) for name, sends in list(self.live.items())]

    def add(self, tally: dict[tuple[tuple[str, Any], ...], int], key: tuple[tuple[str, Any], ...], n: int = 1) -> None:
        with self.lock:
            tally[key] = tally.get(key, 0) + n

    def attributes(self, key: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
        found = self.attribute_sets.get(key)
        if found is None:
            found = self.attribute_sets[key] = dict(key)
        return found


def _key(*pairs: tuple[str, object]) -> tuple[tuple[str, Any], ...]:
    """An attribute set as a hashable key: empty values left out (a delivered result has no error.type)."""
    return tuple(pair for pair in pairs if pair[1] is not None and pair[1] != "")


_otel: _Otel | None = None
_loaded = False
_load_lock = threading.Lock()


def _load() -> _Otel | None:
    """The instruments, or None when ``opentelemetry-api`` is not installed (tried once per process)."""
    global _otel, _loaded
    with _load_lock:
        if not _loaded:
            try:
                _otel = _Otel()
            except ImportError:
                _otel = None
            _loaded = True
    return _otel


def _get() -> _Otel | None:
    return _otel if _loaded else _load()


class _Send:
    """One send in progress: its start, its attempt events, its batch."""

    __slots__ = ("attempts", "batch", "cause", "events", "provider", "start_ns", "started", "target", "traced")

    def __init__(self, provider: str, target: Target, batch: _Batch | None, traced: bool) -> None:
        self.provider = provider
        self.target = target
        self.batch = batch
        self.traced = traced  # a span will be made at the end: keep its start time and attempt events
        self.started = time.perf_counter()
        self.start_ns = time.time_ns() if traced else 0
        self.attempts = 0
        self.cause: str | None = None  # why the next attempt is a resend
        self.events: list[tuple[int, dict[str, Any]]] = []


class _Batch:
    """A ``send_many``/``stream`` in progress: its span, and the links to its sends' spans."""

    __slots__ = ("delivered", "failed", "lock", "sends", "span")

    def __init__(self, span: Any) -> None:
        self.span = span
        self.sends = 0
        self.delivered = 0
        self.failed = 0
        self.lock = threading.Lock()


_current: ContextVar[_Send | None] = ContextVar("unipush_send", default=None)
_batch: ContextVar[_Batch | None] = ContextVar("unipush_batch", default=None)


def begin(provider: str, target: Target) -> _Send | None:
    """A send's first attempt starts (``Sender.send``); ``None`` when OpenTelemetry is absent."""
    otel = _otel if _loaded else _load()
    if otel is None or not otel.active():
        return None
    record = _Send(provider, target, _batch.get(), otel.tracing())
    _current.set(record)
    live = otel.live.get(provider)
    if live is None:
        live = otel.live.setdefault(provider, set())
    live.add(record)
    return record


def attempt(provider: str, number: int, outcome: Outcome | None, error: TransportError | None) -> None:
    """An attempt ended with ``outcome`` (an answer) or ``error`` (none)."""
    otel = _otel if _loaded else _load()
    if otel is None:
        return
    record = _current.get()
    if record is None:  # no SDK when the send began: nothing to record (attempts are counted at its end)
        return
    record.attempts = number
    if not record.traced:  # metrics only: the events would belong to a span nobody records
        record.cause = None
        return
    event: dict[str, Any] = {"unipush.attempt": number}
    if outcome is not None:
        event["http.response.status_code"] = outcome.status_code
        if not outcome.ok:
            event[ERROR_TYPE] = _reason(outcome.reason, outcome.error)
    elif error is not None:
        event[ERROR_TYPE] = type(error).__name__
    if record.cause is not None:
        event["unipush.retry.cause"] = record.cause
        record.cause = None
    record.events.append((time.time_ns(), event))


def retry(provider: str, outcome: Outcome | None, error: TransportError | None, decision: RetryDecision) -> None:
    """A resend starts after ``outcome``/``error`` (the last attempt's) and the policy's ``decision``."""
    otel = _otel if _loaded else _load()
    if otel is None:
        return
    record = _current.get()
    if record is None:  # no SDK when the send began
        return
    cause = _cause(outcome, error, decision)
    otel.add(otel.retries, ((SYSTEM, provider), ("unipush.retry.cause", cause)))
    record.cause = cause


def _cause(outcome: Outcome | None, error: TransportError | None, decision: RetryDecision) -> str:
    if decision.refresh_credential:
        return "credential_refresh"
    if outcome is None:
        return "transport"
    if outcome.status_code == 429:
        return "429"
    return "5xx" if outcome.status_code >= 500 else "other"


def _reason(reason: object, error: BaseException | None) -> str:
    value = getattr(reason, "value", reason)
    if value is not None and value != "":
        return str(value)
    return type(error).__name__ if error is not None else ""


def end(record: _Send | None, result: SendResult | None) -> None:
    """A send ended: ``result`` is final (``None``: the send raised, e.g. cancelled or misconfigured)."""
    if record is None:
        return
    otel = _otel
    assert otel is not None
    if _current.get() is record:
        _current.set(None)
    provider = record.provider
    otel.live[provider].discard(record)
    outcome = "failed" if result is None else outcome_of(result)
    reason = "" if result is None or outcome == "delivered" else reason_text(result)
    key = _key((SYSTEM, provider), (OUTCOME, outcome), (ERROR_TYPE, reason))
    with otel.lock:  # the attempts are counted here, once per send: one lock per notification
        attempts = otel.attempts
        attempts[key[:1]] = attempts.get(key[:1], 0) + record.attempts
        if result is not None:
            notifications = otel.notifications
            notifications[key] = notifications.get(key, 0) + 1
    if result is not None:
        otel.duration.record(time.perf_counter() - record.started, otel.attributes(key[:2]))
    if not record.traced:
        return  # metrics only: no span to make (nor to link from a batch span, which is not recorded either)
    # Made at the end, with the first attempt's start time; its attributes only if it is recorded
    # (a sampler may drop it), each one the SDK validates costing about a microsecond.
    span = otel.tracer.start_span(
        f"send {provider}",
        kind=otel.kind_producer,
        start_time=record.start_ns,
        record_exception=False,
        set_status_on_exception=False,
    )
    if span.is_recording():
        attributes: dict[str, Any] = {
            SYSTEM: provider,
            OPERATION: "send",
            "unipush.target": record.target.short(),  # never the whole token or endpoint
            "unipush.attempts": record.attempts,
        }
        if result is not None and result.status_code is not None:
            attributes["http.response.status_code"] = result.status_code
        if result is not None and result.message_id:
            attributes["messaging.message.id"] = result.message_id
        if outcome != "delivered":
            attributes[OUTCOME] = outcome
            attributes[ERROR_TYPE] = reason or "cancelled"
            span.set_status(otel.status(otel.status_error, reason or "the send raised"))
        span.set_attributes(attributes)
        for stamp, event in record.events:
            span.add_event("attempt", event, timestamp=stamp)
    span.end()
    batch = record.batch
    if batch is not None and batch.span.is_recording():
        context = span.get_span_context()
        with batch.lock:
            batch.sends += 1
            if outcome == "delivered":
                batch.delivered += 1
            else:
                batch.failed += 1
            if batch.sends <= MAX_BATCH_LINKS and context.is_valid:
                batch.span.add_link(context)


def unsent(result: SendResult) -> SendResult:
    """Count a final result for a target never sent (no span: nothing went out); returns ``result``."""
    otel = _otel if _loaded else _load()
    if otel is not None:
        outcome = outcome_of(result)
        otel.add(
            otel.notifications, _key((SYSTEM, result.provider), (OUTCOME, outcome), (ERROR_TYPE, reason_text(result)))
        )
    return result


def batch_begin(kind: str) -> object:
    """A batch (``send_many``/``stream``) starts in this context; pass what this returns to ``batch_end``.

    The sends it starts (tasks copy the context) find the batch, and its span links to theirs
    (semantic conventions: a batch span links to the spans of its messages).
    """
    otel = _otel if _loaded else _load()
    if otel is None or not otel.active():
        return None
    span = otel.tracer.start_span(kind, kind=otel.kind_internal, attributes={OPERATION: "send"})
    return _batch.set(_Batch(span))


def batch_end(token: object) -> None:
    """The batch started by ``batch_begin`` ended (normally or not)."""
    if token is None:
        return
    batch = _batch.get()
    try:
        _batch.reset(cast(Any, token))
    except ValueError:  # ended in another context than it began (a generator closed elsewhere)
        _batch.set(None)
    if batch is None:
        return
    if batch.span.is_recording():
        batch.span.set_attributes(
            {
                "messaging.batch.message_count": batch.sends,
                "unipush.batch.delivered": batch.delivered,
                "unipush.batch.failed": batch.failed,
            }
        )
    batch.span.end()


def connection(event: str, host: str, port: int) -> None:
    """The engine's connection to ``host:port`` was ``opened``, ``closed`` or got a ``goaway``."""
    otel = _otel if _loaded else _load()
    if otel is not None:
        otel.add(
            otel.connections, (("unipush.connection.event", event), ("server.address", host), ("server.port", port))
        )


def minted(provider: str, credential: str) -> None:
    """A ``credential`` (``apns_jwt``, ``oauth_token``, ``vapid_jwt``) was minted for ``provider``."""
    otel = _otel if _loaded else _load()
    if otel is not None:
        otel.add(otel.mints, ((SYSTEM, provider), ("unipush.credential", credential)))


# -- on_result: the hook for any metrics system, without OpenTelemetry ------------------------------


def check_result_hook(hook: object, *, async_ok: bool, client: type) -> Callable[[SendResult], object] | None:
    """``hook`` if it can be a client's ``on_result``; ``ConfigurationError`` otherwise."""
    if hook is None:
        return None
    if not callable(hook):
        raise ConfigurationError("on_result must be callable")
    if not async_ok and inspect.iscoroutinefunction(hook):
        raise ConfigurationError(f"{client.__name__} needs a plain on_result function; use AsyncPushClient for async")
    return cast(Callable[[SendResult], object], hook)


def run_result_hook(hook: Callable[[SendResult], object] | None, result: SendResult) -> None:
    """``PushClient``: run ``on_result(result)`` in the caller's thread; log, never raise."""
    if hook is None:
        return
    try:
        hook(result)
    except Exception:
        logger.exception("on_result callback failed for %s %s", result.provider, _short(result.target))


async def call_result_hook(hook: Callable[[SendResult], object] | None, result: SendResult) -> None:
    """``AsyncPushClient``: run ``on_result(result)`` (plain or async); log, never raise."""
    if hook is None:
        return
    try:
        value = hook(result)
        if inspect.isawaitable(value):
            await cast(Awaitable[object], value)
    except Exception:
        logger.exception("on_result callback failed for %s %s", result.provider, _short(result.target))


def _short(target: object) -> str:
    return target.short() if isinstance(target, Target) else f"<not a target: {type(target).__name__}>"
