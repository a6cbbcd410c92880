"""Campaign throughput through Celery: a real prefork worker, a real Redis, the sandbox in its own process.

    python benchmarks/bench_celery.py [--n 20000] [--providers apns,fcm] [--processes 2] [--chunk-size 1000]

What runs where: ``redis-server`` (broker, campaign ledger, credential store) on a free port; the sandbox
in its own process (``bench_send.py``'s helper: its CPU is its own); one Celery worker
(``celery worker --pool=prefork --concurrency=<processes>``, the tests' app ``tests/fleet/worker_app.py``)
in its own process group; this driver, which plays the web app: it calls ``PushTasks.campaign`` and waits
for the report. A warm-up campaign (one chunk per process) opens the connections and mints the tokens
first. CPU comes from ``/proc`` (worker processes, sandbox) and ``INFO cpu`` (Redis), per notification.

Linux only. Run from a checkout (it imports ``tests.fleet`` and ``benchmarks/bench_send.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import redis  # noqa: E402
from bench_send import SandboxProcess, machine_busy_seconds, proc_cpu_seconds  # noqa: E402
from tests.fleet.support import Worker, celery_worker  # noqa: E402
from tests.redis_server import redis_server  # noqa: E402

from unipush import FcmDevice, Notification, Target  # noqa: E402
from unipush.apns import ApnsDevice  # noqa: E402

NOTIFICATION = Notification(
    title="Flash sale", body="Two hours only", deep_link="https://shop.example/sale", badge=1, sound="default", ttl=3600
)


def targets(n: int, providers: list[str]) -> Iterator[Target]:
    """``n`` distinct generated targets, round-robin over ``providers`` (the sandbox accepts unknown tokens)."""
    for i in range(n):
        provider = providers[i % len(providers)]
        if provider == "apns":
            yield ApnsDevice(secrets.token_hex(32))
        else:
            yield FcmDevice(f"bench-{secrets.token_urlsafe(48)}")


def worker_cpu(worker: Worker) -> float:
    """CPU seconds of the worker's main process and of every pool process alive now."""
    total = 0.0
    for pid in {worker.process.pid, *worker.factory_pids()}:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += proc_cpu_seconds(pid)
    return total


def redis_cpu(connection: redis.Redis) -> float:
    info = connection.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="targets in the timed campaign")
    parser.add_argument("--providers", default="apns,fcm", help="apns and/or fcm, comma-separated")
    parser.add_argument("--processes", type=int, default=2, help="worker pool processes (--concurrency)")
    parser.add_argument("--chunk-size", type=int, default=1000)
    args = parser.parse_args()
    providers = args.providers.split(",")

    sandbox = SandboxProcess()
    try:
        with redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp:
            connection = redis.Redis.from_url(redis_url)
            with celery_worker(redis_url, sandbox.info, Path(tmp), concurrency=args.processes) as worker:
                worker.wait_for_processes(args.processes)
                warm = worker.push.campaign(NOTIFICATION, targets(args.processes * 200, providers), chunk_size=200)
                warm.wait(timeout=120)

                cpu0, sandbox0, redis0 = (
                    worker_cpu(worker),
                    proc_cpu_seconds(sandbox.info["pid"]),
                    redis_cpu(connection),
                )
                busy0, driver0, started = machine_busy_seconds(), time.process_time(), time.perf_counter()
                campaign = worker.push.campaign(NOTIFICATION, targets(args.n, providers), chunk_size=args.chunk_size)
                dispatched = time.perf_counter() - started
                report = campaign.wait(timeout=600)
                elapsed = time.perf_counter() - started
                cpu = worker_cpu(worker) - cpu0
                sandbox_cpu = proc_cpu_seconds(sandbox.info["pid"]) - sandbox0
                store_cpu = redis_cpu(connection) - redis0
                driver_cpu = time.process_time() - driver0
                busy = machine_busy_seconds() - busy0
            connection.close()
    finally:
        sandbox.close()

    n = args.n
    ours = cpu + sandbox_cpu + store_cpu + driver_cpu
    cores = os.cpu_count() or 1
    print(
        f"campaign: {n:,} targets ({args.providers}), {report.chunks} chunks of {args.chunk_size}, "
        f"{args.processes} worker processes, {cores} CPUs"
    )
    print(f"  report: {report.delivered:,} delivered, {report.failed:,} failed, {report.recorded:,} recorded")
    print(f"  {n / elapsed:,.0f} notifications/s ({elapsed:.2f} s; chunks queued after {dispatched:.2f} s)")
    print(
        f"  worker CPU {cpu / n * 1e6:,.0f} µs/notification (all pool processes + main), "
        f"= {1 / (cpu / n):,.0f} notifications/s per busy core"
    )
    print(
        f"  sandbox CPU {sandbox_cpu / n * 1e6:,.0f} µs/notification, Redis {store_cpu / n * 1e6:,.0f} µs, "
        f"driver {driver_cpu / n * 1e6:,.0f} µs"
    )
    print(f"  machine busy {busy / elapsed / cores:.0%}; other processes {max(0.0, busy - ours) / elapsed / cores:.0%}")
    return 0 if report.delivered == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
