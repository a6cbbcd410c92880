"""A sending process for the credential-sharing tests: ``python -m tests.credential_worker <json>``.

The JSON argument says which sandbox to send to (its ``info()``), which credential store to use
(``"memory"``, ``"file:<directory>"``, ``"redis:<url>"``, or ``"hold-file:<directory>"`` /
``"hold-redis:<url>"`` to take the APNs token's mint lock and sleep holding it, to be killed), how many
APNs sends to make and a file to wait for before sending (so that every process asks for its token at
the same moment). It prints ``ready`` and then one JSON line: the counts of its results.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from unipush import CredentialStore, FileStore, MemoryStore, Notification, PushClient, RedisStore
from unipush.apns import APNs, ApnsDevice


def store_from(spec: str, prefix: str) -> CredentialStore:
    kind, _, where = spec.partition(":")
    if kind in ("file", "hold-file"):
        return FileStore(where)
    if kind in ("redis", "hold-redis"):
        return RedisStore(where, prefix=prefix)
    return MemoryStore()


def apns_from(info: dict[str, Any]) -> APNs:
    return APNs(
        key=Path(info["apns_key_path"]),
        key_id=info["apns_key_id"],
        team_id=info["apns_team_id"],
        topic=info["apns_topic"],
        environment="sandbox",
        base_url=info["apns_url"],
    )


def main(argv: list[str]) -> int:
    job = json.loads(argv[0])
    info: dict[str, Any] = job["info"]
    store = store_from(job["store"], job.get("prefix", "unipush:"))
    apns = apns_from(info)
    if job["store"].startswith("hold-"):
        assert apns.signer is not None
        with store.lock(apns.signer.store_key, lease=job.get("lease", 5.0)) as held:
            print("locked" if held else "not-locked", flush=True)
            time.sleep(3600)  # until killed
        return 1
    go = Path(job["go"]) if job.get("go") else None
    count = int(job["count"])
    with PushClient(apns=apns, verify=info["ca_path"], credential_store=store) as client:
        print("ready", flush=True)
        while go is not None and not go.exists():
            time.sleep(0.005)
        devices = [ApnsDevice(f"{job['index']:08x}{i:056x}") for i in range(count)]
        batch = client.send_many(Notification(title="shared token"), devices)
    reasons = Counter(str(r.reason) for r in batch if not r.ok)
    assert apns.signer is not None
    print(
        json.dumps(
            {
                "ok": len(batch.succeeded),
                "failed": len(batch.failed),
                "reasons": reasons,
                "minted": apns.signer.mint_count,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
