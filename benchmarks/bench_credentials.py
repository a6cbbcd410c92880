"""Credential stores: tokens minted and time for N processes sending APNs through one sandbox.

For each store (``memory``: every process signs its own token, as before credential stores;
``file``: ``FileStore``; ``redis``: ``RedisStore``), ``--processes`` spawned processes each build a
``PushClient`` and wait; all are released at once and send ``--sends`` APNs notifications. The sandbox
enforces Apple's rule (a second provider token within 20 minutes: ``429 TooManyProviderTokenUpdates``)
and reports how many distinct tokens it verified. Then, in this process, the cost of one renewal
(``ProviderTokenSigner.token`` with nothing in memory: store read, lock, mint, save) and of the hot path
(``cached``: the in-memory copy) for each store.

    python benchmarks/bench_credentials.py                       # 8 x 1,000, memory/file/redis
    python benchmarks/bench_credentials.py --processes 2 --sends 200 --stores file

``redis`` needs ``--redis-url`` or a ``redis-server`` on the PATH (started on a free port, then stopped).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from unipush import CredentialStore, FileStore, MemoryStore, Notification, PushClient, RedisStore
from unipush.apns import APNs, ApnsDevice
from unipush.sandbox import Sandbox


def make_store(kind: str, where: str, namespace: str) -> CredentialStore:
    """A store object of ``kind``; ``namespace`` separates runs (a subdirectory, a Redis key prefix)."""
    if kind == "file":
        return FileStore(Path(where) / namespace)
    if kind == "redis":
        return RedisStore(where, prefix=f"bench:{namespace}:")
    return MemoryStore()


def apns_config(info: dict[str, Any]) -> APNs:
    return APNs(
        key=Path(info["apns_key_path"]),
        key_id=info["apns_key_id"],
        team_id=info["apns_team_id"],
        topic=info["apns_topic"],
        environment="sandbox",
        base_url=info["apns_url"],
    )


def worker(
    index: int, info: dict[str, Any], kind: str, where: str, namespace: str, sends: int, go: Any, ready: Any
) -> dict[str, Any]:
    apns = apns_config(info)
    store = make_store(kind, where, namespace)
    with PushClient(apns=apns, verify=info["ca_path"], credential_store=store) as client:
        ready.release()
        go.wait()
        devices = [ApnsDevice(f"{index:04x}{n:060x}") for n in range(sends)]
        batch = client.send_many(Notification(title="bench"), devices)
    assert apns.signer is not None
    return {
        "ok": len(batch.succeeded),
        "reasons": Counter(str(r.reason) for r in batch.failed),
        "minted": apns.signer.mint_count,
    }


def run_fleet(kind: str, where: str, processes: int, sends: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with Sandbox() as sandbox:
        info = sandbox.info()
        manager = context.Manager()
        go, ready = manager.Event(), manager.Semaphore(0)
        with context.Pool(processes) as pool:
            namespace = f"fleet-{time.time_ns()}"
            jobs = [(i, info, kind, where, namespace, sends, go, ready) for i in range(processes)]
            pending = pool.starmap_async(worker, jobs)
            for _ in range(processes):
                ready.acquire()
            started = time.perf_counter()
            go.set()
            reports = pending.get(timeout=600)
            elapsed = time.perf_counter() - started
        manager.shutdown()
        reasons: Counter[str] = Counter()
        for report in reports:
            reasons.update(report["reasons"])
        return {
            "store": kind,
            "delivered": sum(r["ok"] for r in reports),
            "failed": dict(reasons),
            "minted": sum(r["minted"] for r in reports),
            "tokens_seen": sandbox.apns.jwt_verifications,
            "seconds": elapsed,
        }


def renewal_cost(kind: str, where: str, rounds: int = 200) -> tuple[float, float, float]:
    """Median microseconds of a renewal that mints (empty store: load, lock, load, sign, save), of one
    that adopts another process's token (load), and of a hot-path read (the in-memory copy)."""
    with Sandbox() as sandbox:
        info = sandbox.info()
        mint: list[float] = []
        adopt: list[float] = []
        warm: list[float] = []
        for n in range(rounds):
            namespace = f"renew-{time.time_ns()}-{n}"
            now = datetime.now(timezone.utc)
            for sample in (mint, adopt):
                signer = apns_config(info).signer
                assert signer is not None
                # A store object of its own: a process with nothing in memory yet.
                signer.use_store(make_store(kind, where, namespace))
                t0 = time.perf_counter()
                signer.token(now)
                t1 = time.perf_counter()
                signer.cached(now)
                t2 = time.perf_counter()
                sample.append((t1 - t0) * 1e6)
                warm.append((t2 - t1) * 1e6)
        return statistics.median(mint), statistics.median(adopt), statistics.median(warm)


@contextmanager
def redis_url(given: str | None) -> Iterator[str | None]:
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(timeout=10)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--sends", type=int, default=1000, help="APNs sends per process")
    parser.add_argument("--stores", default="memory,file,redis")
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args(argv)
    kinds = args.stores.split(",")
    with redis_url(args.redis_url if "redis" in kinds else "unused") as url, tempfile.TemporaryDirectory() as cache:
        print(f"{args.processes} processes x {args.sends:,} APNs sends, one sandbox (Apple's 20-minute rule on)")
        head = f"{'store':<8} {'delivered':>10} {'failed':>8} {'minted':>7} {'seen':>5} {'seconds':>8}"
        print(head + "  renewal: mint / adopt / hot path")
        for kind in kinds:
            if kind == "redis" and url is None:
                print("redis    skipped: no --redis-url and no redis-server on the PATH")
                continue
            where = url if kind == "redis" else str(Path(cache) / kind)
            fleet = run_fleet(kind, where or "", args.processes, args.sends)
            mint, adopt, warm = renewal_cost(kind, where or "")
            failed = sum(fleet["failed"].values())
            print(
                f"{kind:<8} {fleet['delivered']:>10,} {failed:>8,} {fleet['minted']:>7} {fleet['tokens_seen']:>5} "
                f"{fleet['seconds']:>8.2f}  {mint:,.0f} us / {adopt:,.0f} us / {warm:.1f} us"
                + (f"   failures: {fleet['failed']}" if failed else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
