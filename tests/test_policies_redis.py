"""The Redis policy store under a real race: 8 processes send to one user at the same moment.

Each process (``tests/policy_worker.py``) has its own ``PushClient`` and sends, 100 in flight, to devices
that all belong to one user; the sandbox's inbox shows what got through. The cap and the
de-duplication hold exactly because the trim, count and add are one Lua script in Redis; the control
run, with each process counting in its own memory, shows that without the shared store they do not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.policy_worker import CAP
from unipush.policies import RedisPolicyStore
from unipush.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
PROCESSES, SENDS = 8, 40


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def race(
    tmp_path: Path, sandbox: Sandbox, redis_url: str, request: pytest.FixtureRequest, *, policy: str, store: str
) -> list[dict[str, Any]]:
    """Start the processes, release them together, return their reports."""
    go = tmp_path / "go"
    common = {
        "info": sandbox.info(),
        "redis": redis_url,
        "prefix": f"test:{request.node.name}:",
        "credential_prefix": "test:policies-redis:cred:",  # one APNs token for the module's sandbox
        "policy": policy,
        "store": store,
        "count": SENDS,
        "go": str(go),
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "PYTHONWARNINGS": "error"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.policy_worker", json.dumps({**common, "index": i})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for i in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read() if worker.stderr else ""
        go.touch()
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()


def test_eight_processes_never_exceed_the_cap(
    tmp_path: Path, sandbox: Sandbox, redis_url: str, request: pytest.FixtureRequest
) -> None:
    sandbox.inbox.clear()
    reports = race(tmp_path, sandbox, redis_url, request, policy="cap", store="redis")
    sent = [key for report in reports for key in report["ok"]]
    assert len(sent) == CAP, reports
    refused = sum((Counter(r["reasons"]) for r in reports), Counter())
    assert refused == Counter({"frequency_cap": PROCESSES * SENDS - CAP})
    assert sorted(d.target for d in sandbox.inbox.for_provider("apns")) == sorted(sent)  # the inbox agrees
    # What Redis holds: one log for the user, with exactly the admitted sends, expiring with the window.
    client = redis.Redis.from_url(redis_url)
    key = f"test:{request.node.name}:frequency_cap:user-1"
    assert client.zcard(key) == CAP
    assert 0 < client.pttl(key) <= 3600 * 1000


def test_eight_processes_send_one_campaign_once(
    tmp_path: Path, sandbox: Sandbox, redis_url: str, request: pytest.FixtureRequest
) -> None:
    sandbox.inbox.clear()
    reports = race(tmp_path, sandbox, redis_url, request, policy="dedup", store="redis")
    sent = [key for report in reports for key in report["ok"]]
    assert len(sent) == 1, reports
    assert [d.target for d in sandbox.inbox.for_provider("apns")] == sent


def test_without_the_shared_store_each_process_counts_alone(
    tmp_path: Path, sandbox: Sandbox, redis_url: str, request: pytest.FixtureRequest
) -> None:
    # The control: the same race with in-memory counts lets every process send its own CAP.
    sandbox.inbox.clear()
    reports = race(tmp_path, sandbox, redis_url, request, policy="cap", store="memory")
    assert [len(r["ok"]) for r in reports] == [CAP] * PROCESSES
    assert len(sandbox.inbox.for_provider("apns")) == CAP * PROCESSES


def test_the_redis_store_releases_and_slides(redis_url: str, request: pytest.FixtureRequest) -> None:
    store = RedisPolicyStore(redis_url, prefix=f"test:{request.node.name}:")
    assert store.acquire("k", limit=2, window=60, now=1000.0, token="a")
    assert store.acquire("k", limit=2, window=60, now=1010.0, token="b")
    assert not store.acquire("k", limit=2, window=60, now=1020.0, token="c")
    store.release("k", "b")  # a send that certainly did not go out gives its place back
    assert store.acquire("k", limit=2, window=60, now=1030.0, token="d")
    assert not store.acquire("k", limit=2, window=60, now=1059.9, token="e")
    assert store.acquire("k", limit=2, window=60, now=1060.0, token="f")  # "a" (at 1000) has left the window
