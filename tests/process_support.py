"""Helpers for the ``ProcessPool`` tests: picklable client factories and a look at processes through ``/proc``.

Worker processes are started with ``spawn``, so they import the factories from here by name.

Run as a script (``python -m tests.process_support INFO_JSON``), it streams targets through a
``ProcessPool`` against the sandbox ``INFO_JSON`` describes, printing ``started`` once the first
results are in: the test then kills it, to see that its workers do not outlive it.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from unipush import ConfigurationError, FileStore, Notification, ProcessPool, PushClient
from unipush.apns import ApnsDevice
from unipush.sandbox import configs_from_info


def sandbox_client(info: Mapping[str, Any], *, concurrency: int = 100) -> PushClient:
    """A client for the APNs and FCM emulators of the sandbox ``info`` (``Sandbox.info()``) describes.

    Its credentials go to a ``FileStore`` in the sandbox's directory, so every process sending to one
    sandbox uses one APNs provider token, as ``ProcessPool``'s documentation asks.
    """
    configs = configs_from_info(info)
    store = FileStore(Path(info["apns_key_path"]).parent / "pool-credentials")
    return PushClient(
        apns=configs["apns"],
        fcm=configs["fcm"],
        verify=configs["verify"],
        concurrency=concurrency,
        credential_store=store,
    )


def factory(info: Mapping[str, Any], **options: Any) -> Callable[[], PushClient]:
    """A picklable factory of ``sandbox_client(info)``."""
    return functools.partial(sandbox_client, dict(info), **options)


def broken_client() -> PushClient:
    """A factory that fails, as one with a missing key would."""
    raise ConfigurationError("apns: key file not found: /nowhere/AuthKey.p8")


def dying_client() -> PushClient:
    """A factory whose worker dies while building it, as one crashing in a C extension would."""
    os._exit(3)


def not_a_client() -> PushClient:
    """A factory that returns the wrong thing."""
    return "a client"  # type: ignore[return-value]


def apns_token(i: int) -> str:
    """The ``i``-th distinct, well-formed APNs device token."""
    return f"{i:064x}"


# -- processes, from /proc --------------------------------------------------------------------------


def _stat(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    return text[text.rindex(")") + 2 :].split()  # proc(5): state, ppid, pgrp, ...


def live_processes(*, group: int | None = None, parent: int | None = None) -> list[int]:
    """The live (not zombie) processes in process group ``group`` and/or whose parent is ``parent``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(entry)
        if fields is None or fields[0] == "Z":
            continue
        if group is not None and int(fields[2]) != group:
            continue
        if parent is not None and int(fields[1]) != parent:
            continue
        found.append(int(entry))
    return found


def pool_workers(parent: int) -> list[int]:
    """The ``spawn``ed worker processes of ``parent`` (not its resource tracker)."""
    workers = []
    for pid in live_processes(parent=parent):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            workers.append(pid)
    return workers


def _main(info_path: str) -> None:
    info = json.loads(Path(info_path).read_text())
    notification = Notification(title="Flash sale")
    pairs = ((notification, ApnsDevice(apns_token(i))) for i in range(1_000_000))
    with ProcessPool(factory(info, concurrency=10), processes=2, chunk_size=50) as pool:
        for count, _result in enumerate(pool.stream(pairs), start=1):
            if count == 50:
                print("started", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1])
