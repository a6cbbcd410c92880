"""Expose unipush's OpenTelemetry metrics to Prometheus (docs/monitoring.md).

unipush only calls the OpenTelemetry API (``pip install 'unipush[otel]'``); the application picks the
SDK and the exporter. Here: the SDK with ``opentelemetry-exporter-prometheus``, serving ``/metrics``
on 127.0.0.1 for Prometheus to scrape. A batch goes to the local sandbox, with one dead token and one
429, so every kind of series has a value.

    pip install 'unipush[otel]' opentelemetry-sdk opentelemetry-exporter-prometheus
    python examples/prometheus_metrics.py                     # send, print this process's scrape, exit
    python examples/prometheus_metrics.py --serve --port 9464 # send, then serve /metrics until Ctrl-C
"""

from __future__ import annotations

import argparse
import sys
import urllib.request

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import start_http_server

from unipush import Notification, RetryPolicy
from unipush.sandbox import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port for /metrics (0: any free port; 9464 is usual)")
    parser.add_argument("--serve", action="store_true", help="keep serving /metrics until Ctrl-C or stdin closes")
    args = parser.parse_args(argv)

    # The application's side, once at start-up: an SDK whose reader Prometheus scrapes over HTTP.
    server, thread = start_http_server(args.port, addr="127.0.0.1")
    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))

    with Sandbox() as sandbox, sandbox.client(retry=RetryPolicy(initial_backoff=0.01)) as client:
        devices = [sandbox.apns_device() for _ in range(3)]
        tokens = [sandbox.fcm_device() for _ in range(2)]
        sandbox.invalidate(tokens[1])  # a dead token: FCM answers 404 UNREGISTERED
        sandbox.fail(429, target=devices[2], retry_after=0)  # APNs says "too many requests" once
        batch = client.send_many(Notification(title="Back in stock"), [*devices, *tokens])
        print(batch.summary())

    url = f"http://127.0.0.1:{server.server_port}/metrics"
    print(f"metrics at {url}", flush=True)
    try:
        if args.serve:
            sys.stdin.read()  # until Ctrl-C, or until whoever started us closes our stdin
        else:
            with urllib.request.urlopen(url, timeout=10) as response:
                scrape = response.read().decode()
            print("\n".join(line for line in scrape.splitlines() if line.startswith("unipush_notifications")))
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
