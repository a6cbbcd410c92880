"""PushClient where sync code lives: thread pools, forked workers, and threads that run their own event loop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from unipush import ConfigurationError, Notification, PushClient
from unipush.sandbox import Sandbox

N = Notification(title="hi", deep_link="https://example.com/")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def test_one_client_shared_by_a_thread_pool(sandbox: Sandbox) -> None:
    devices = [sandbox.apns_device() for _ in range(64)]
    with sandbox.client() as client, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda d: client.send(N, d), devices))
        loops = {id(client._loop)}
    assert all(r.ok for r in results)
    assert len(loops) == 1  # the lazy start ran once despite eight threads racing for it
    assert {d.target for d in sandbox.inbox.for_provider("apns")} >= {d.token for d in devices}


def test_sync_client_inside_a_running_event_loop(sandbox: Sandbox) -> None:
    async def handler_in_some_framework() -> bool:
        with sandbox.client() as client:  # blocking call from a coroutine: allowed, it has its own loop
            return client.send(N, sandbox.fcm_device()).ok

    assert asyncio.run(handler_in_some_framework())


def test_close_is_idempotent_and_final(sandbox: Sandbox) -> None:
    client = sandbox.client()
    assert client.send(N, sandbox.apns_device()).ok
    client.close()
    client.close()
    with pytest.raises(ConfigurationError, match="closed: create a new client"):
        client.send(N, sandbox.apns_device())  # a closed client does not reopen behind its owner's back
    assert client._loop is None


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")
def test_client_used_before_and_after_fork() -> None:
    # Its own sandbox: a second process signs a new provider token, and the APNs emulator, like APNs,
    # refuses a key's token changing twice within 20 minutes (TooManyProviderTokenUpdates).
    with Sandbox() as sandbox:
        _fork_and_send(sandbox)


def _fork_and_send(sandbox: Sandbox) -> None:
    info = sandbox.info()
    script = textwrap.dedent(
        f"""
        import os, sys, warnings
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        from unipush import ConfigurationError, Notification, PushClient
        from unipush.apns import APNs, ApnsDevice
        apns = APNs(key={info["apns_key_path"]!r}, key_id={info["apns_key_id"]!r}, team_id={info["apns_team_id"]!r},
                    topic="dev.unipush.sandbox", base_url={info["apns_url"]!r})
        client = PushClient(apns=apns, verify={info["ca_path"]!r})
        n = Notification(title="fork")
        assert client.send(n, ApnsDevice("aa" * 32)).ok          # parent: starts its loop thread
        pid = os.fork()
        if pid == 0:                                             # child: the loop thread did not survive
            ok = client.send(n, ApnsDevice("bb" * 32)).ok
            client.close()
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert client.send(n, ApnsDevice("cc" * 32)).ok          # parent still works
        client.close()
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    delivered = {d.target for d in sandbox.inbox.for_provider("apns")}
    assert {"aa" * 32, "bb" * 32, "cc" * 32} <= delivered


def test_send_from_a_callback_on_the_loop_thread_is_refused(sandbox: Sandbox) -> None:
    client: PushClient = sandbox.client()
    errors: list[BaseException] = []

    def reentrant(result: object) -> None:
        try:
            client._get()[0].run(asyncio.sleep(0))
        except RuntimeError as exc:
            errors.append(exc)

    try:
        loop, _ = client._get()
        loop.submit(_call(reentrant)).result()
    finally:
        client.close()
    assert errors, "a call from the loop thread must fail fast instead of deadlocking"


async def _call(fn: object) -> None:
    assert callable(fn)
    fn(None)
