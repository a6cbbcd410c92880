"""The Celery app the tests' worker runs: ``celery -A tests.fleet.worker_app worker ...``.

It reads its settings from the JSON file named by ``UNIPUSH_CELERY_TEST_CONFIG`` (written by the test
that starts the worker): the broker (the test session's Redis), the queue, the key prefix, and the
sandbox's URLs, CA and throwaway credentials (``Sandbox.info()``). The client factory builds a client for
the three sandbox services that shares its tokens through ``RedisStore``; it records the pid of each
process it runs in, and the dead-token task records every token it is given, so the test can check both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import redis
from celery import Celery

import unipush
from unipush import PushClient
from unipush.celery import PushTasks
from unipush.sandbox import configs_from_info

CONFIG_ENV = "UNIPUSH_CELERY_TEST_CONFIG"


def make_app(config: dict[str, Any]) -> tuple[Celery, PushTasks]:
    """The app and its unipush tasks for ``config`` (the same in the worker and in the test process)."""
    broker = config["broker"]
    prefix = config["prefix"]
    app = Celery("unipush-tests", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=config["queue"],
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    recorder = redis.Redis.from_url(broker)

    def make_client() -> PushClient:
        info = config["sandbox"]
        recorder.rpush(f"{prefix}:factory-pids", os.getpid())
        return PushClient(
            **configs_from_info(info),
            credential_store=unipush.RedisStore(broker),
        )

    def prune(dead: list[dict[str, Any]]) -> int:
        # Where a Django app deletes rows: here the keys go to a Redis list the test reads.
        if dead:
            recorder.rpush(f"{prefix}:pruned", *[json.dumps([d["provider"], d["key"], os.getpid()]) for d in dead])
        return len(dead)

    app.task(name="tests.prune", serializer="json")(prune)
    push = PushTasks(
        app, make_client, redis_url=broker, on_invalid_tokens="tests.prune", key_prefix=prefix, record_every=50
    )
    return app, push


if CONFIG_ENV in os.environ:
    app, push = make_app(json.loads(Path(os.environ[CONFIG_ENV]).read_text(encoding="utf-8")))
