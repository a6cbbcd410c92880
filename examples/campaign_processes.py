"""One campaign from every core of the machine: a CSV of APNs device tokens through a ``ProcessPool``.

Real credentials come from the environment: ``APNS_KEY_FILE`` (the ``AuthKey_XXXXXXXXXX.p8``),
``APNS_KEY_ID``, ``APNS_TEAM_ID``, ``APNS_TOPIC`` (the bundle ID) and optionally ``APNS_ENVIRONMENT``
(``production``, the default, or ``sandbox``); the CSV (a ``token`` column) is the first argument::

    python examples/campaign_processes.py devices.csv

With none of these set, the script starts unipush's local sandbox and sends to 3,000 made-up devices
there, two of them dead, offline::

    python examples/campaign_processes.py
"""

from __future__ import annotations

import contextlib
import csv
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from unipush import FileStore, Notification, ProcessPool, PushClient
from unipush.apns import ApnsDevice
from unipush.sandbox import Sandbox


def make_client(apns: dict[str, Any], verify: str | None, credentials: str | None) -> PushClient:
    """Build one worker's client. Runs once in each worker process, so it lives at module level.

    The ``FileStore`` makes every worker use one APNs provider token: Apple refuses a new token for a key
    less than 20 minutes after the last one.
    """
    return PushClient(providers=[("apns", apns)], verify=verify, credential_store=FileStore(credentials))


def devices(path: Path) -> Iterator[ApnsDevice]:
    """The devices of a CSV file, one row at a time: a file of millions is never held in memory."""
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            yield ApnsDevice(row["token"])


def from_environment(stack: contextlib.ExitStack) -> tuple[dict[str, Any], str | None, str | None, Path]:
    """APNs settings, a CA bundle, a credential directory and the CSV: real ones, or a local sandbox's."""
    env = os.environ
    if env.get("APNS_KEY_FILE"):
        apns = {"key": env["APNS_KEY_FILE"], "key_id": env["APNS_KEY_ID"], "team_id": env["APNS_TEAM_ID"],
                "topic": env["APNS_TOPIC"], "environment": env.get("APNS_ENVIRONMENT", "production")}  # fmt: skip
        return apns, None, None, Path(sys.argv[1])  # FileStore(None): the user's cache directory
    sandbox = stack.enter_context(Sandbox())
    print(f"No credentials in the environment: sending to the local sandbox's APNs at {sandbox.apns_url}")
    info = sandbox.info()
    apns = {"key": info["apns_key_path"], "key_id": info["apns_key_id"], "team_id": info["apns_team_id"],
            "topic": info["apns_topic"], "environment": "sandbox", "base_url": info["apns_url"]}  # fmt: skip
    path = sandbox.directory / "devices.csv"
    path.write_text("token\n" + "".join(f"{i:064x}\n" for i in range(3000)))
    for i in (7, 2024):
        sandbox.invalidate(ApnsDevice(f"{i:064x}"))
    return apns, info["ca_path"], str(sandbox.directory / "credentials"), path


def main() -> int:
    """Send the campaign; print what to delete and the counts."""
    notification = Notification(title="Flash sale", body="Today only: 20 % off everything")
    with contextlib.ExitStack() as stack:
        apns, verify, credentials, path = from_environment(stack)
        factory = functools.partial(make_client, apns, verify, credentials)  # picklable, for the workers
        sent = failed = 0
        dead: list[str] = []
        with ProcessPool(factory) as pool:  # one worker per CPU
            for result in pool.stream((notification, device) for device in devices(path)):
                if result.ok:
                    sent += 1
                    continue
                failed += 1
                if result.token_invalid:
                    dead.append(result.target.key)  # here a real app deletes the row
    print(f"{sent + failed:,} targets: {sent:,} delivered, {failed:,} failed ({len(dead)} dead tokens to delete)")
    return 0 if failed == len(dead) else 1


# Required: the workers are started with "spawn", which imports this file again in each of them.
if __name__ == "__main__":
    raise SystemExit(main())
