"""``configs_from_info``: another process builds a working client from ``Sandbox.info()`` alone."""

from __future__ import annotations

import json

from unipush import Notification, PushClient
from unipush.sandbox import Sandbox, configs_from_info


def test_a_client_built_from_the_info_reaches_all_three_emulators() -> None:
    with Sandbox() as sandbox:
        info = json.loads(json.dumps(sandbox.info()))  # what `unipush sandbox --json` hands another program
        targets = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
        notification = Notification(title="From info", body="b", deep_link="https://example.com/x")
        with PushClient(**configs_from_info(info)) as client:
            batch = client.send_many(notification, targets)
        assert [r.ok for r in batch] == [True, True, True], batch
        assert sorted(d.provider for d in sandbox.inbox.wait_for(3)) == ["apns", "fcm", "webpush"]
