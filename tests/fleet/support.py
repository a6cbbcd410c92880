"""A real Celery worker for the tests: ``celery worker --pool=prefork --concurrency=2`` in a subprocess.

``celery_worker(...)`` writes the worker's config file, starts the worker in its own process group,
waits until both pool processes have built their client, and on exit stops it (warm shutdown, then
SIGKILL of the group it started) so no process outlives the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.fleet.worker_app import CONFIG_ENV, make_app
from unipush.celery import PushTasks
from unipush.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


@dataclass
class Worker:
    """A running worker: its process, the producer-side tasks, and what it recorded in Redis."""

    process: subprocess.Popen[bytes]
    push: PushTasks
    redis: redis.Redis
    prefix: str
    log: Path

    def factory_pids(self) -> list[int]:
        """The pids the client factory ran in, in order."""
        return [int(p) for p in self.redis.lrange(f"{self.prefix}:factory-pids", 0, -1)]

    def pruned(self) -> list[tuple[str, str, int]]:
        """``(provider, key, pid)`` for every dead token the dead-token task received."""
        return [tuple(json.loads(item)) for item in self.redis.lrange(f"{self.prefix}:pruned", 0, -1)]

    def wait_for_processes(self, count: int, timeout: float = START_TIMEOUT_S) -> list[int]:
        """Block until the factory has run in ``count`` processes (fails with the worker's log otherwise)."""
        deadline = time.monotonic() + timeout
        while len(pids := self.factory_pids()) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start {count} processes:\n{self.log_text()}")
            time.sleep(0.05)
        return pids

    def log_text(self) -> str:
        """The worker's output so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def celery_worker(
    redis_url: str, sandbox: Sandbox | dict[str, Any], tmp_path: Path, *, concurrency: int = 2
) -> Iterator[Worker]:
    """Start a prefork worker (``concurrency`` processes) for a fresh queue and key prefix; stop it on exit.

    ``sandbox`` is the running ``Sandbox``, or its ``info()`` (a sandbox in another process).
    """
    tag = uuid.uuid4().hex[:12]
    config: dict[str, Any] = {
        "broker": redis_url,
        "queue": f"unipush-test-{tag}",
        "prefix": f"unipush-test-{tag}",
        "sandbox": sandbox if isinstance(sandbox, dict) else sandbox.info(),
    }
    config_path = tmp_path / "worker.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    log = tmp_path / "worker.log"
    env = dict(os.environ)
    env[CONFIG_ENV] = str(config_path)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.fleet.worker_app",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--loglevel=WARNING",
        "--queues",
        config["queue"],
        "--hostname",
        f"{tag}@127.0.0.1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    _app, push = make_app(config)
    connection = redis.Redis.from_url(redis_url)
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield Worker(process=process, push=push, redis=connection, prefix=config["prefix"], log=log)
    finally:
        _stop(process)
        connection.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # warm shutdown: the pool processes close their clients
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    # Whatever is left of the group this test started (a pool process, the main process).
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
