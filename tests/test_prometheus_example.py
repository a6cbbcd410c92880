"""examples/prometheus_metrics.py serves unipush's metrics; Prometheus' view of them, scraped over HTTP."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 60.0  # seconds for the example to send its batch and print its URL


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


def test_the_example_serves_the_metrics_prometheus_scrapes() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    with subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "prometheus_metrics.py"), "--serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        output: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(process.stdout, output), daemon=True)
        reader.start()
        try:
            url = None
            while url is None:
                line = output.get(timeout=DEADLINE)  # queue.Empty fails the test: bounded in time
                found = re.match(r"metrics at (http://127\.0\.0\.1:\d+/metrics)$", line.strip())
                url = found.group(1) if found else None
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                scrape = response.read().decode()
        finally:
            assert process.stdin is not None
            process.stdin.close()  # the example stops serving when its stdin closes
            try:
                process.wait(timeout=30)
            finally:
                if process.returncode is None:
                    process.kill()
            reader.join(timeout=10)
            errors = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, errors
    assert errors == ""

    def value(metric: str, **labels: str) -> float:
        total = 0.0
        for line in scrape.splitlines():
            name, _, rest = line.partition("{")
            if name != metric:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', rest.rpartition("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    assert value("unipush_notifications_total", messaging_system="apns", unipush_outcome="delivered") == 3
    assert value("unipush_notifications_total", messaging_system="fcm", unipush_outcome="delivered") == 1
    dead = {"messaging_system": "fcm", "unipush_outcome": "invalid_token", "error_type": "UNREGISTERED"}
    assert value("unipush_notifications_total", **dead) == 1
    assert value("unipush_attempts_total", messaging_system="apns") == 4
    assert value("unipush_retries_total", messaging_system="apns", unipush_retry_cause="429") == 1
    assert value("unipush_send_duration_seconds_count", messaging_system="apns") == 3
    assert value("unipush_connections_total", unipush_connection_event="opened") == 2
    assert value("unipush_credential_mints_total", unipush_credential="apns_jwt") == 1
    assert value("unipush_in_flight", messaging_system="apns") == 0
