"""What unipush's telemetry hooks cost per notification, beside what the OpenTelemetry SDK itself costs.

``bench_telemetry.py`` measures whole sends against the sandbox, where the machine's noise (±5 % per
row) hides anything under a few microseconds. This script times the hooks alone, with ``timeit``, in
three fresh processes:

* ``absent``: OpenTelemetry cannot be imported (a meta-path blocker, as on an install without the
  ``otel`` extra); the hooks a send calls (``begin``, ``attempt``, ``end``, the result hook);
* ``sdk floor``: the OpenTelemetry SDK alone doing what one send asks of it (one span with five
  attributes and one event, exported by a ``SimpleSpanProcessor`` to an ``InMemorySpanExporter``,
  and one histogram measurement), no unipush code: the reference row;
* ``sdk``: unipush's hooks with that same SDK configured;
* ``metrics floor`` and ``metrics``: the same for an application that configured metrics only (no
  tracer provider): the SDK's one histogram measurement alone, then unipush's hooks.

Run: ``python benchmarks/bench_telemetry_hooks.py`` (``--n`` calls per timing, best of ``--repeat``).
Compare ``absent`` with a send's client CPU (``bench_send.py``, ~160 µs for APNs on a quiet machine)
and ``sdk`` with ``sdk floor``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import timeit
from typing import Any


class _Block:
    """A meta-path finder that refuses OpenTelemetry, as on an install without the ``otel`` extra."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError("blocked: OpenTelemetry absent")


def _sdk(*, tracing: bool = True) -> tuple[Any, Any]:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    if tracing:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    return exporter, metrics.get_meter("bench")


def _hooks() -> Any:
    from unipush import SendResult, _telemetry
    from unipush.apns import ApnsDevice

    target = ApnsDevice("a1b2c3d4" * 8)
    result = SendResult(ok=True, target=target, provider="apns", status_code=200, message_id="m-1", attempts=1)

    def send() -> None:
        record = _telemetry.begin("apns", target)
        _telemetry.attempt("apns", 1, None, None)
        _telemetry.end(record, result)
        _telemetry.run_result_hook(None, result)

    return send


def _case(mode: str, n: int, repeat: int) -> float:
    if mode == "absent":
        sys.meta_path.insert(0, _Block())  # type: ignore[arg-type]
        send = _hooks()
    elif mode == "sdk":
        exporter, _ = _sdk()
        send = _hooks()
    elif mode == "metrics":
        exporter, _ = _sdk(tracing=False)
        send = _hooks()
    elif mode == "metrics floor":
        exporter, meter = _sdk(tracing=False)
        histogram = meter.create_histogram("bench.duration", unit="s")
        attributes = {"messaging.system": "apns", "unipush.outcome": "delivered"}

        def send() -> None:
            histogram.record(0.01, attributes)

    else:  # sdk floor
        exporter, meter = _sdk()
        from opentelemetry import trace

        tracer = trace.get_tracer("bench")
        histogram = meter.create_histogram("bench.duration", unit="s")
        attributes = {"messaging.system": "apns", "messaging.operation.name": "send"}

        def send() -> None:
            span = tracer.start_span("send apns", kind=trace.SpanKind.PRODUCER)
            span.set_attributes(
                {
                    "messaging.system": "apns",
                    "messaging.operation.name": "send",
                    "unipush.target": "apns a1b2c3d4…",
                    "unipush.attempts": 1,
                    "http.response.status_code": 200,
                }
            )
            span.add_event("attempt", {"unipush.attempt": 1, "http.response.status_code": 200})
            span.end()
            histogram.record(0.01, attributes)

    def timed() -> None:
        send()
        if mode != "absent":
            exporter.clear()  # keep the exporter's list from growing over a million spans

    best = min(timeit.repeat(timed, number=n, repeat=repeat))
    if mode == "absent":
        assert not any(name.startswith("opentelemetry") for name in sys.modules), "OpenTelemetry was imported"
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="calls per timing")
    parser.add_argument("--repeat", type=int, default=5, help="timings per row (the best is shown)")
    parser.add_argument("--_case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._case:
        print(json.dumps({"us": _case(args._case, args.n, args.repeat)}))
        return
    rows = {}
    for mode in ("absent", "metrics floor", "metrics", "sdk floor", "sdk"):
        out = subprocess.run(
            [sys.executable, __file__, "--_case", mode, "--n", str(args.n), "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows[mode] = json.loads(out.stdout)["us"]
    print(f"{args.n:,} calls per timing, best of {args.repeat}; µs per notification")
    print(f"{'row':<14} {'µs':>8}")
    for mode, us in rows.items():
        print(f"{mode:<14} {us:>8.2f}")
    print(f"metrics - metrics floor: {rows['metrics'] - rows['metrics floor']:.2f} µs (unipush's own share)")
    print(f"sdk / sdk floor: {rows['sdk'] / rows['sdk floor']:.2f}")


if __name__ == "__main__":
    main()
