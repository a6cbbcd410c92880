"""A campaign on Celery workers, Django style: stream the devices table into chunk tasks, prune dead tokens.

The parts to copy are the first half of this file, as they would sit in a Django project's ``tasks.py``:

* ``app`` and ``push``: the Celery app and unipush's tasks on it (``PushTasks``). Each worker process builds
  one ``PushClient`` with ``make_client`` after the fork and keeps it: connections and tokens are reused by
  every task, and ``RedisStore`` makes the whole fleet share one APNs token and one FCM OAuth token.
* ``prune_tokens``: the application's own task that receives the dead tokens and deletes their rows; it
  runs in the workers, next to the ORM.
* ``launch_sale``: what a view or a management command calls: ``push.campaign`` reads the table with a
  cursor, 1,000 rows per chunk task, and returns at once; ``campaign.wait()`` gives the report.

The ``Devices`` table is SQLite here, so the workers and this script share it as they would share Postgres;
the Django lines are in the comments. Credentials come from the environment as in ``fastapi_app.py``
(``APNS_KEY_FILE``..., ``FCM_SERVICE_ACCOUNT``, ``VAPID_PRIVATE_KEY``/``VAPID_SUBJECT``) or, for the demo,
from the local sandbox. ``python examples/celery_campaign.py`` runs the demo: a redis-server (unless
``REDIS_URL`` is set), the sandbox, a worker (``celery -A celery_campaign worker --pool=prefork
--concurrency=2``, in a subprocess), and a campaign to 1,000 devices of which 50 are dead.
Needs ``pip install "unipush[celery]"`` and, for the demo, ``redis-server``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from celery import Celery

import unipush
from unipush import FCM, APNs, Notification, PushClient, Target, WebPush
from unipush.celery import Campaign, PushTasks
from unipush.sandbox import Sandbox, configs_from_info

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE = os.environ.get("SHOP_DATABASE", "shop.sqlite3")

# --- The devices table (a Django model in a real project) ------------------------------------------------------


class Devices:
    """``class Device(models.Model)``: ``provider``, ``token`` (= ``Target.key``) and the target's JSON form."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, timeout=30)
        self._db.execute("CREATE TABLE IF NOT EXISTS devices (provider TEXT, token TEXT, target TEXT)")

    def add(self, target: Target) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO devices VALUES (?, ?, ?)", (target.provider, target.key, json.dumps(target.to_dict()))
            )

    def iterator(self) -> Iterator[Target]:
        """``Device.objects.iterator()``: a server-side cursor, rows decoded one at a time."""
        for (target,) in self._db.execute("SELECT target FROM devices"):
            yield unipush.target_from_dict(json.loads(target))

    def delete(self, provider: str, tokens: list[str]) -> int:
        """``Device.objects.filter(provider=provider, token__in=tokens).delete()``."""
        with self._db:
            marks = ",".join("?" * len(tokens))
            cursor = self._db.execute(
                f"DELETE FROM devices WHERE provider = ? AND token IN ({marks})", [provider, *tokens]
            )
        return cursor.rowcount

    def count(self) -> int:
        """``Device.objects.count()``."""
        return int(self._db.execute("SELECT count(*) FROM devices").fetchone()[0])


# --- tasks.py: the part to copy ---------------------------------------------------------------------------------


def make_client() -> PushClient:
    """One client per worker process (``PushTasks`` calls this after the fork and keeps the client)."""
    return PushClient(**providers(), credential_store=unipush.RedisStore(REDIS_URL))


def prune_tokens(dead: list[dict[str, Any]]) -> int:
    """The dead tokens of a group of results: delete their rows (runs in a worker, at least once per token)."""
    devices = Devices(DATABASE)
    deleted = 0
    for provider in {d["provider"] for d in dead}:
        deleted += devices.delete(provider, [d["key"] for d in dead if d["provider"] == provider])
    return deleted


app = Celery("shop", broker=REDIS_URL)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=1,  # a chunk at a time per process: a killed process holds one chunk, no more
    broker_connection_retry_on_startup=True,
)
app.task(name="shop.prune_tokens")(prune_tokens)
# chunk_size: 1,000 targets per task by default; 250 here so that the demo's 1,000 devices make 4 tasks.
push = PushTasks(app, make_client, redis_url=REDIS_URL, on_invalid_tokens="shop.prune_tokens", chunk_size=250)


def launch_sale() -> Campaign:
    """The view: one notification to every device, in chunk tasks; returns as soon as they are queued."""
    sale = Notification(title="Flash sale", body="Two hours only", deep_link="https://shop.example/sale")
    return push.campaign(sale, Devices(DATABASE).iterator())


# --- Credentials: the environment, or the local sandbox for the demo ----------------------------------------------


def providers() -> dict[str, Any]:
    """Provider configs (and ``verify``) from the environment, or from the sandbox the demo started."""
    env = os.environ
    sandbox_info = env.get("SHOP_SANDBOX_INFO")
    if sandbox_info:
        info = json.loads(Path(sandbox_info).read_text(encoding="utf-8"))
        return configs_from_info(info)
    configs: dict[str, Any] = {}
    if env.get("APNS_KEY_FILE"):
        configs["apns"] = APNs(
            key=env["APNS_KEY_FILE"], key_id=env["APNS_KEY_ID"], team_id=env["APNS_TEAM_ID"], topic=env["APNS_TOPIC"]
        )
    if env.get("FCM_SERVICE_ACCOUNT"):
        configs["fcm"] = FCM(service_account=env["FCM_SERVICE_ACCOUNT"])
    if env.get("VAPID_PRIVATE_KEY"):
        configs["webpush"] = WebPush(vapid_private_key=env["VAPID_PRIVATE_KEY"], subject=env["VAPID_SUBJECT"])
    return configs


# --- The demo -----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(stack: ExitStack, command: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group; on exit stop it (SIGTERM, then SIGKILL to the group)."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    stack.callback(stop)
    return process


def main() -> int:
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shop-")))
        env = dict(os.environ, SHOP_DATABASE=str(work / "shop.sqlite3"))
        if "REDIS_URL" not in os.environ:
            binary = shutil.which("redis-server")
            if binary is None:
                print("this demo needs redis-server (or REDIS_URL)", file=sys.stderr)
                return 2
            port = _free_port()
            _start(stack, [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""], work / "redis.log")
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        sandbox = stack.enter_context(Sandbox())
        (work / "sandbox.json").write_text(json.dumps(sandbox.info()), encoding="utf-8")
        env["SHOP_SANDBOX_INFO"] = str(work / "sandbox.json")

        devices = Devices(env["SHOP_DATABASE"])
        dead = 0
        for i in range(1000):
            target: Target = (
                sandbox.apns_device() if i % 10 < 6 else sandbox.fcm_device() if i % 10 < 9 else sandbox.subscribe()
            )
            if i % 60 in (0, 27, 59):  # an APNs, an FCM and a Web Push device in every 60
                sandbox.invalidate(target)  # uninstalled: APNs 410, FCM 404, Web Push 410
                dead += 1
            devices.add(target)
        print(f"before: {devices.count()} devices, {dead} of them dead")

        worker_env = dict(env)
        if os.geteuid() == 0 and worker_env.get("PYTHONWARNINGS"):
            # Celery warns when a worker runs as root (as in many containers); don't let "-W error" stop it.
            worker_env["PYTHONWARNINGS"] += ",ignore:You're running the worker with superuser privileges"
        worker = _start(
            stack,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "celery_campaign",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            work / "worker.log",
            cwd=Path(__file__).parent,
            env=worker_env,
        )
        # The web app's side: a process started with the same settings as the workers (as gunicorn would be).
        launched = subprocess.run(
            [sys.executable, __file__, "--launch"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        print(launched.stdout, end="")
        print(launched.stderr, end="", file=sys.stderr)
        deadline = time.monotonic() + 30
        while devices.count() > 1000 - dead and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)  # prune_tokens is a task of its own: it may run just after the report
        print(f"after: {devices.count()} devices")
        ok = launched.returncode == 0 and devices.count() == 1000 - dead
    return 0 if ok else 1


def launch() -> int:
    """The web app's part of the demo: start the campaign, wait for its report, print it."""
    campaign = launch_sale()
    print(f"queued {campaign.chunks} chunk task(s) for {campaign.targets} devices")
    report = campaign.wait(timeout=90)
    print(report)
    return 0 if report.recorded == campaign.targets else 1


if __name__ == "__main__":
    raise SystemExit(launch() if sys.argv[1:] == ["--launch"] else main())
