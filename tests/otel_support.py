"""The OpenTelemetry SDK, installed once per test process as an application would, for telemetry tests.

OpenTelemetry's global providers can be set once per process, so every test shares them: the metric
reader reports deltas (each ``collect`` counts what happened since the previous one) and spans go to
the in-memory exporter only while a test holds ``Telemetry.recording()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult


class _Switch(SpanProcessor):
    """Forwards finished spans to the exporter only while a test records (other tests' spans are dropped)."""

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor
        self.on = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.processor.on_end(span)


class _WhileRecording(Sampler):
    """Samples spans only while a test records: the rest of the suite's sends get no-op spans."""

    def __init__(self, switch: _Switch) -> None:
        self.switch = switch

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.switch.on else Decision.DROP)

    def get_description(self) -> str:
        return "WhileRecording"


class Telemetry:
    """The process's SDK: ``metrics()`` collects the deltas, ``spans()`` the spans finished meanwhile."""

    def __init__(self) -> None:
        delta = AggregationTemporality.DELTA
        self.reader = InMemoryMetricReader(
            preferred_temporality={Counter: delta, ObservableCounter: delta, Histogram: delta}
        )
        self.exporter = InMemorySpanExporter()
        self.switch = _Switch(SimpleSpanProcessor(self.exporter))
        tracer_provider = TracerProvider(sampler=_WhileRecording(self.switch))
        tracer_provider.add_span_processor(self.switch)
        metrics.set_meter_provider(MeterProvider(metric_readers=[self.reader]))
        trace.set_tracer_provider(tracer_provider)

    @contextmanager
    def recording(self) -> Iterator[Telemetry]:
        self.points()  # forget what happened before
        self.exporter.clear()
        self.switch.on = True
        try:
            yield self
        finally:
            self.switch.on = False

    def points(self) -> dict[str, dict[frozenset[tuple[str, Any]], Any]]:
        """``{metric name: {attribute set: value}}`` since the previous call (histograms: their count)."""
        found: dict[str, dict[frozenset[tuple[str, Any]], Any]] = {}
        data = self.reader.get_metrics_data()
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                if scope.scope.name != "unipush":
                    continue
                for metric in scope.metrics:
                    series = found.setdefault(metric.name, {})
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count  # type: ignore[union-attr]
                        if value:
                            series[frozenset(dict(point.attributes or {}).items())] = value
        return found

    def spans(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()


_lock = threading.Lock()
_installed: Telemetry | None = None


def telemetry() -> Telemetry:
    """The process's SDK, installed on first use."""
    global _installed
    with _lock:
        if _installed is None:
            _installed = Telemetry()
        return _installed


def attrs(**values: Any) -> frozenset[tuple[str, Any]]:
    """An attribute set; ``system``/``outcome``/``reason`` stand for the long semantic-convention names."""
    names = {"system": "messaging.system", "outcome": "unipush.outcome", "reason": "error.type"}
    return frozenset((names.get(k, k.replace("__", ".")), v) for k, v in values.items())
