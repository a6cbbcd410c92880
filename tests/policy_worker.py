"""A sending process for the Redis policy race: ``python -m tests.policy_worker <json>``.

The JSON argument gives the sandbox (its ``info()``), the Redis URL and key prefix, the policy to race on
(``"cap"``: 5 per hour for one user; ``"dedup"``: one push per campaign for that user), the policy store
(``"redis"`` or ``"memory"``), how many devices of that one user to send to, and a file to wait for, so
that every process sends at the same moment. It prints ``ready``, then one JSON line: its results.

``night_client`` is a ``ProcessPool`` client factory whose quiet hours defer everything (it is night
for every recipient, whenever it runs).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from tests.credential_worker import apns_from
from unipush import FileStore, Notification, PushClient, RedisStore, Target
from unipush.apns import ApnsDevice
from unipush.policies import (
    Deduplicate,
    FrequencyCap,
    MemoryPolicyStore,
    PolicyStore,
    QuietHours,
    RedisPolicyStore,
    SendPolicy,
)
from unipush.sandbox import configs_from_info

CAP = 5


def main(argv: list[str]) -> int:
    job = json.loads(argv[0])
    info, url, prefix = job["info"], job["redis"], job["prefix"]
    user = lambda target: "user-1"  # noqa: E731 - every device belongs to the one user the processes race on
    policy: SendPolicy = (
        FrequencyCap(CAP, 3600, recipient=user)
        if job["policy"] == "cap"
        else Deduplicate(lambda n: n.data.get("campaign"), 3600, recipient=user)
    )
    store: PolicyStore = RedisPolicyStore(url, prefix=prefix) if job["store"] == "redis" else MemoryPolicyStore()
    # One shared APNs token for the fleet (Apple refuses a key's token changing within 20 minutes).
    credentials = RedisStore(url, prefix=job["credential_prefix"])
    devices = [ApnsDevice(f"{job['index']:08x}{i:056x}") for i in range(job["count"])]
    go = Path(job["go"])
    with PushClient(
        apns=apns_from(info),
        verify=info["ca_path"],
        credential_store=credentials,
        policies=[policy],
        policy_store=store,
    ) as client:
        print("ready", flush=True)
        while not go.exists():
            time.sleep(0.002)
        batch = client.send_many(Notification(title="Spring sale", data={"campaign": "spring"}), devices)
    report = {
        "ok": [r.target.key for r in batch if r.ok],
        "reasons": Counter(str(r.reason) for r in batch if not r.ok),
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def _night(target: Target) -> tzinfo:
    """A zone where it is 23:xx now: quiet hours 22:00-08:00 hold every notification back."""
    now = datetime.now(timezone.utc)
    return timezone(timedelta(hours=(23 - now.hour + 12) % 24 - 12))


def night_client(info: dict[str, Any]) -> PushClient:
    """A ``ProcessPool`` worker's client (picklable as ``functools.partial(night_client, info)``)."""
    configs = configs_from_info(info)
    return PushClient(
        apns=configs["apns"],
        verify=configs["verify"],
        credential_store=FileStore(Path(info["apns_key_path"]).parent / "pool-credentials"),
        policies=[QuietHours("22:00", "08:00", zone=_night, defer=True)],
    )
