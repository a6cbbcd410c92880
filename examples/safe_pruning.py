"""Safe pruning: a deployment pointed at the wrong APNs environment does not empty the devices table.

Run it as ``python examples/safe_pruning.py``. It uses the local sandbox: first every token is answered
``BadDeviceToken`` (what APNs says to a client of the wrong environment), and nothing is deleted; then,
with the configuration fixed, two genuinely bad tokens among good ones are deleted as usual.
See docs/pruning-tokens.md, "Safe pruning".
"""

from __future__ import annotations

import logging
import sys

from unipush import ConfigurationError, Notification, SendResult
from unipush.sandbox import Sandbox


def main() -> None:
    # The guard says once, on the "unipush" logger, that it is holding answers back.
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with Sandbox() as sandbox:
        table = {device.key: device for device in (sandbox.apns_device() for _ in range(50))}

        def delete(result: SendResult) -> None:
            table.pop(result.target.key, None)

        n = Notification(title="Your order shipped")
        # 1. A bad deployment: every token is refused with BadDeviceToken.
        storm = sandbox.fail(400, provider="apns", reason="BadDeviceToken", times=None)
        with sandbox.client(on_invalid_token=delete) as client:
            batch = client.send_many(n, list(table.values()))
        held = [r for r in batch if isinstance(r.error, ConfigurationError)]
        print(f"wrong environment: {len(held)} results held as ConfigurationError, {len(table)} devices kept")
        sandbox.faults.remove(storm)

        # 2. The fixed deployment (a new process, so a new client): two really bad tokens among good ones
        # are deleted as before. They come last, and at most 10 are in flight, so by the time they are
        # answered the client has seen its configuration work.
        bad = list(table.values())[-2:]
        for device in bad:
            sandbox.fail(400, target=device, reason="BadDeviceToken")
        with sandbox.client(on_invalid_token=delete, concurrency=10) as client:
            batch = client.send_many(n, list(table.values()))
        print(f"fixed: {len(batch.succeeded)} delivered, {len(batch.invalid_tokens)} dead, {len(table)} devices kept")


if __name__ == "__main__":
    main()
