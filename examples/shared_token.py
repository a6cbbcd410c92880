"""Several worker processes, one APNs provider token: credentials shared through a ``FileStore``.

APNs refuses a new provider token for a key less than 20 minutes after the previous one
(``429 TooManyProviderTokenUpdates``), so processes that each sign their own token fail. Here four
processes send through one local sandbox (which enforces that rule as Apple does) with
``credential_store=FileStore(...)``: one of them mints the token, the others read it from the file.
With ``RedisStore(url)`` instead, processes on several machines share it the same way.

    python examples/shared_token.py
"""

from __future__ import annotations

import multiprocessing
import tempfile
from pathlib import Path
from typing import Any

from unipush import FileStore, Notification, PushClient
from unipush.apns import APNs, ApnsDevice
from unipush.sandbox import Sandbox

PROCESSES = 4
SENDS = 100


def worker(index: int, info: dict[str, Any], cache: str) -> int:
    """One process: its own client, the shared store; returns how many sends were delivered."""
    apns = APNs(
        key=Path(info["apns_key_path"]),
        key_id=info["apns_key_id"],
        team_id=info["apns_team_id"],
        topic=info["apns_topic"],
        environment="sandbox",
        base_url=info["apns_url"],
    )
    with PushClient(apns=apns, verify=info["ca_path"], credential_store=FileStore(cache)) as client:
        devices = [ApnsDevice(f"{index:02x}{n:062x}") for n in range(SENDS)]
        batch = client.send_many(Notification(title="Flash sale", body="Two hours only"), devices)
    return len(batch.succeeded)


def main() -> None:
    with Sandbox() as sandbox, tempfile.TemporaryDirectory() as cache:
        info = sandbox.info()
        # "spawn": fresh interpreters, as separate worker processes (gunicorn, Celery) would be.
        with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
            delivered = pool.starmap(worker, [(i, info, cache) for i in range(PROCESSES)])
        tokens = sandbox.apns.jwt_verifications  # distinct provider tokens the sandbox saw
        print(f"{PROCESSES} processes: {sum(delivered)} of {PROCESSES * SENDS} delivered, {tokens} provider token")


if __name__ == "__main__":
    main()
