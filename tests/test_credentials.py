"""Credential stores: one APNs provider token per key across threads, processes and machines.

The proofs go over real sockets and real processes: a ``Sandbox`` whose APNs emulator, like Apple,
answers ``429 TooManyProviderTokenUpdates`` to a second token within 20 minutes and counts every
distinct token it verifies (``jwt_verifications``), worker processes (``tests/credential_worker.py``)
started together, and a real ``redis-server`` (the ``redis_url`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis

from unipush import (
    ConfigurationError,
    CredentialStore,
    FileStore,
    MemoryStore,
    Notification,
    PushClient,
    RedisStore,
    StoredCredential,
)
from unipush._credentials import default_cache_directory
from unipush.apns import ApnsDevice
from unipush.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ApnsDevice("ab" * 32)


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A sandbox of its own (a new APNs key: no token seen yet), with Apple's 20-minute rule on."""
    with Sandbox() as box:
        yield box


def prefix_for(request: pytest.FixtureRequest) -> str:
    return f"test:{request.node.name}:"


def start_workers(
    tmp_path: Path, sandbox: Sandbox, store: str, *, processes: int, count: int, prefix: str = ""
) -> list[dict[str, Any]]:
    """Start ``processes`` senders, release them together, and return what each reports."""
    go = tmp_path / "go"
    jobs = [
        {"info": sandbox.info(), "store": store, "count": count, "go": str(go), "index": i, "prefix": prefix}
        for i in range(processes)
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "PYTHONWARNINGS": "error"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.credential_worker", json.dumps(job)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for job in jobs
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read() if worker.stderr else ""
        go.touch()  # every process is built and waiting: all ask for a token at once
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()


# -- the stores ------------------------------------------------------------------------------------


def credential(token: str = "tok.en.sig", *, issued: float = 1_000.0) -> StoredCredential:
    return StoredCredential(token=token, issued_at=issued, expires_at=issued + 3600)


@pytest.fixture(params=["memory", "file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CredentialStore:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "file":
        return FileStore(tmp_path / "cache")
    url = request.getfixturevalue("redis_url")
    return RedisStore(url, prefix=prefix_for(request))


def test_store_load_save_and_replace(store: CredentialStore) -> None:
    assert store.load("apns:k") is None
    # Redis keeps a credential until it expires (real clock), so these expire an hour from now.
    now = datetime.now(timezone.utc).timestamp()
    first, second = credential("one", issued=now), credential("two", issued=now + 1)
    store.save("apns:k", first)
    assert store.load("apns:k") == first
    store.save("apns:k", second)
    assert store.load("apns:k") == second
    assert store.load("apns:other") is None


def test_store_lock_excludes_and_gives_up_after_the_lease(store: CredentialStore) -> None:
    with store.lock("k", lease=5.0) as held:
        assert held
        answers: list[bool] = []

        def contender() -> None:
            with store.lock("k", lease=0.2) as got:
                answers.append(got)

        thread = threading.Thread(target=contender)
        thread.start()
        thread.join()
        assert answers == [False]  # never a deadlock: the waiter goes on without it
    with store.lock("k", lease=0.2) as held:
        assert held  # released on exit


def test_stored_credential_hides_its_token() -> None:
    assert "secret" not in repr(credential("secret.jwt.value"))
    assert StoredCredential.from_json(credential("a").to_json()) == credential("a")
    assert StoredCredential.from_json("not json") is None
    assert StoredCredential.from_json('{"v": 2}') is None
    with pytest.raises(ValueError, match="token"):
        StoredCredential(token="", issued_at=0, expires_at=1)


def test_file_store_is_private_and_holds_only_the_token(fresh: Sandbox, tmp_path: Path) -> None:
    directory = tmp_path / "cache" / "unipush"
    store = FileStore(directory)
    with PushClient(apns=fresh.apns_config(), verify=fresh.ssl_context(), credential_store=store) as client:
        assert client.send(Notification(title="t"), DEVICE).ok
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(directory.iterdir())
    assert [f.suffix for f in files] == [".json", ".lock"]
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    record = json.loads(files[0].read_text())
    assert set(record) == {"v", "token", "issued_at", "expires_at"}
    key_pem = fresh.apns.key_path.read_text()
    body = "".join(line for line in key_pem.splitlines() if "-----" not in line)
    assert body[:40] not in files[0].read_text()  # the key never goes to disk here
    assert fresh.apns.key_id not in files[0].name  # file names are hashes


def test_file_store_tightens_an_open_directory(tmp_path: Path) -> None:
    directory = tmp_path / "open"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    FileStore(directory).save("k", credential())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_default_file_store_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert FileStore().directory == tmp_path / "unipush"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec: ignored
    assert default_cache_directory() == Path.home() / ".cache" / "unipush"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert FileStore().directory == Path.home() / ".cache" / "unipush"


def test_redis_store_arguments_and_repr(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"url= .* or client="):
        RedisStore()
    with pytest.raises(ConfigurationError, match="one"):
        RedisStore(redis_url, client=redis.Redis.from_url(redis_url))
    with pytest.raises(ConfigurationError, match="RedisStore url"):
        RedisStore("nope://x")
    shown = repr(RedisStore("redis://user:hunter2@localhost:6379/0"))
    assert "hunter2" not in shown
    assert "localhost" in shown
    shared = redis.Redis.from_url(redis_url)
    assert RedisStore(client=shared).client is shared


def test_redis_store_keeps_a_credential_until_it_expires(redis_url: str, request: pytest.FixtureRequest) -> None:
    store = RedisStore(redis_url, prefix=prefix_for(request))
    now = datetime.now(timezone.utc).timestamp()
    store.save("k", StoredCredential(token="t", issued_at=now, expires_at=now + 60))
    ttl = store.client.pttl(prefix_for(request) + "cred:k")
    assert 0 < ttl <= 60_000
    store.save("gone", StoredCredential(token="t", issued_at=now - 7200, expires_at=now - 3600))
    assert store.load("gone") is None


def test_client_rejects_a_non_store(fresh: Sandbox) -> None:
    with pytest.raises(ConfigurationError, match=r"credential_store must be a unipush\.CredentialStore"):
        PushClient(apns=fresh.apns_config(), credential_store=object())  # type: ignore[arg-type]


def test_with_a_file_store_prepare_leaves_the_first_token_to_authorize(fresh: Sandbox, tmp_path: Path) -> None:
    config = fresh.apns_config()
    config.use_credential_store(FileStore(tmp_path / "cache"))
    now = datetime.now(timezone.utc)
    first = config.prepare(Notification(title="t"), DEVICE, now=now)
    # No token in memory yet and reading the file is I/O: prepare (on the event loop) does not do it.
    assert first.credential_pending
    assert "authorization" not in first.headers
    pending = config.authorize(first, refresh=False, ssl_context=fresh.ssl_context())
    assert asyncio.iscoroutine(pending)  # the store is read on a worker thread
    ready = asyncio.run(pending)
    assert ready.headers["authorization"].startswith("bearer ey")
    assert not ready.credential_pending
    # From then on the token is in memory: prepare attaches it and authorize returns at once.
    second = config.prepare(Notification(title="t"), DEVICE, now=now)
    assert second.headers["authorization"] == ready.headers["authorization"]
    assert config.authorize(second, refresh=False, ssl_context=fresh.ssl_context()) is second


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_is_not_stuck_on_a_lock_its_parent_held(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from unipush.apns import ProviderTokenSigner

    signer = ProviderTokenSigner(ec.generate_private_key(ec.SECP256R1()), key_id="A" * 10, team_id="B" * 10)
    signer.use_store(FileStore(tmp_path / "cache"))
    now = datetime.now(timezone.utc)
    parent_token = signer.token(now)
    shared = signer._shared
    # Another thread of the parent is in the middle of a renewal when a prefork server forks.
    assert shared._lock.acquire()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "multi-threaded process forked"
            pid = os.fork()
        if pid == 0:  # the child: a renewal must not wait for the parent's thread
            signal.alarm(20)  # a child stuck on the lock dies of SIGALRM instead of hanging the test
            code = 0 if signer.token(now + timedelta(hours=1)) != parent_token else 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        shared._lock.release()
    assert os.waitstatus_to_exitcode(status) == 0


# -- one token per key, in one process -------------------------------------------------------------


def test_two_clients_on_one_file_store_share_the_token_in_the_file(fresh: Sandbox, tmp_path: Path) -> None:
    store_dir = tmp_path / "cache"
    with PushClient(apns=fresh.apns_config(), verify=fresh.ssl_context(), credential_store=FileStore(store_dir)) as a:
        assert a.send(Notification(title="a"), DEVICE).ok
    # Another store object (another process would be the same): it finds the token in the file.
    config = fresh.apns_config()
    with PushClient(apns=config, verify=fresh.ssl_context(), credential_store=FileStore(store_dir)) as b:
        assert b.send(Notification(title="b"), DEVICE).ok
    assert config.signer is not None
    assert config.signer.mint_count == 0
    assert fresh.apns.jwt_verifications == 1


def test_async_client_reads_the_store_off_the_event_loop(fresh: Sandbox, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "cache")
    config = fresh.apns_config()
    calls: list[str] = []
    original = store.load

    def load(key: str) -> StoredCredential | None:
        calls.append(threading.current_thread().name)
        return original(key)

    store.load = load  # type: ignore[method-assign]

    async def main() -> list[bool]:
        loop_thread = threading.current_thread().name
        async with fresh.async_client(apns=config, credential_store=store) as client:
            batch = await client.send_many(Notification(title="async"), [DEVICE] * 50)
        assert calls
        assert loop_thread not in calls  # store I/O ran on worker threads only
        return [r.ok for r in batch]

    assert all(asyncio.run(main()))
    assert len(calls) <= 2 * 1  # one renewal: a load before the lock, one under it
    assert fresh.apns.jwt_verifications == 1


def test_expired_provider_token_is_replaced_once_through_the_store(fresh: Sandbox) -> None:
    fresh.apns.token_update_interval = 0  # the token below is made to look 25 minutes old
    store = MemoryStore()
    config = fresh.apns_config()
    assert config.signer is not None
    config.use_credential_store(store)
    old = config.signer.token(datetime.now(timezone.utc) - timedelta(minutes=25))
    fresh.fail(403, provider="apns", reason="ExpiredProviderToken")
    with PushClient(apns=config, verify=fresh.ssl_context(), credential_store=store) as client:
        result = client.send(Notification(title="t"), DEVICE)
    assert result.ok, result
    assert result.attempts == 2
    assert config.signer.mint_count == 2
    stored = store.load(config.signer.store_key)
    assert stored is not None
    assert stored.token != old


# -- one token per key, across processes -----------------------------------------------------------


def test_eight_processes_share_one_token_through_a_file_store(fresh: Sandbox, tmp_path: Path) -> None:
    reports = start_workers(tmp_path, fresh, f"file:{tmp_path / 'cache'}", processes=8, count=1000)
    assert sum(r["ok"] for r in reports) == 8000, reports
    assert sum(r["minted"] for r in reports) == 1
    assert fresh.apns.jwt_verifications == 1  # the sandbox saw one provider token
    assert len(fresh.inbox) == 8000


def test_eight_processes_share_one_token_through_redis(
    fresh: Sandbox, tmp_path: Path, redis_url: str, request: pytest.FixtureRequest
) -> None:
    reports = start_workers(tmp_path, fresh, f"redis:{redis_url}", processes=8, count=1000, prefix=prefix_for(request))
    assert sum(r["ok"] for r in reports) == 8000, reports
    assert sum(r["minted"] for r in reports) == 1
    assert fresh.apns.jwt_verifications == 1
    assert len(fresh.inbox) == 8000


def test_without_a_shared_store_the_second_process_is_refused(fresh: Sandbox, tmp_path: Path) -> None:
    # The control: what every process signing its own token gets from APNs (and from the sandbox).
    reports = start_workers(tmp_path, fresh, "memory", processes=2, count=5)
    assert sum(r["minted"] for r in reports) == 2
    assert sum(r["failed"] for r in reports) == 5
    assert [reason for r in reports for reason in r["reasons"]] == ["TooManyProviderTokenUpdates"]


# -- a minting process that died -------------------------------------------------------------------


def hold_lock_and_die(sandbox: Sandbox, store: str, prefix: str = "") -> None:
    job = {"info": sandbox.info(), "store": store, "lease": 2.0, "prefix": prefix}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.credential_worker", json.dumps(job)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)  # dies holding the lock, in the middle of its "mint"
    holder.wait()
    holder.stdout.close()


def test_a_dead_minter_does_not_block_a_file_store(fresh: Sandbox, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    hold_lock_and_die(fresh, f"hold-file:{cache}")
    with PushClient(apns=fresh.apns_config(), verify=fresh.ssl_context(), credential_store=FileStore(cache)) as c:
        assert c.send(Notification(title="after the crash"), DEVICE).ok


def test_a_dead_minter_does_not_block_redis(
    fresh: Sandbox, redis_url: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = prefix_for(request)
    hold_lock_and_die(fresh, f"hold-redis:{redis_url}", prefix)
    store = RedisStore(redis_url, prefix=prefix)
    config = fresh.apns_config()
    assert config.signer is not None
    assert store.client.pttl(prefix + "lock:" + config.signer.store_key) > 0  # the dead process's lease
    with (
        caplog.at_level(logging.WARNING, logger="unipush"),
        PushClient(apns=config, verify=fresh.ssl_context(), credential_store=store) as client,
    ):
        assert client.send(Notification(title="after the crash"), DEVICE).ok
    # It waited for the lease to expire and minted under the lock, not around it.
    assert not [r for r in caplog.records if "without the store's lock" in r.getMessage()]
    assert config.signer.mint_count == 1


def test_a_store_outage_costs_a_token_not_a_send(fresh: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    store = RedisStore("redis://127.0.0.1:9/0")  # nothing listens on the discard port
    with (
        caplog.at_level(logging.WARNING, logger="unipush"),
        PushClient(apns=fresh.apns_config(), verify=fresh.ssl_context(), credential_store=store) as client,
    ):
        assert client.send(Notification(title="t"), DEVICE).ok
    assert any("credential store load failed" in r.getMessage() for r in caplog.records)
    assert all(".ey" not in r.getMessage() for r in caplog.records)  # no JWT in the logs


# -- the command line --------------------------------------------------------------------------------


def test_two_cli_runs_back_to_back_against_unipush_sandbox(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIPUSH_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONWARNINGS="error")
    reader: threading.Thread | None = None
    server = subprocess.Popen(
        [sys.executable, "-m", "unipush", "sandbox", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        # It prints a line per delivery: keep reading them, or the pipe fills and the sandbox stalls.
        deliveries: list[str] = []
        reader = threading.Thread(target=lambda: deliveries.extend(server.stdout or ()), daemon=True)
        reader.start()
        targets = tmp_path / "targets.csv"
        targets.write_text("provider,token\n" + "".join(f"apns,{i:064x}\n" for i in range(200)))
        flags = [
            "--apns-key", info["apns_key_path"], "--apns-key-id", info["apns_key_id"],
            "--apns-team-id", info["apns_team_id"], "--apns-topic", info["apns_topic"],
            "--apns-env", "sandbox", "--apns-url", info["apns_url"], "--ca", info["ca_path"],
        ]  # fmt: skip
        for run in (1, 2):
            done = subprocess.run(
                [sys.executable, "-m", "unipush", "send", "--file", str(targets), "--title", f"run {run}", *flags],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (run, done.stdout, done.stderr)
            assert "200 sent, 0 failed" in done.stdout + done.stderr, (run, done.stdout, done.stderr)
        assert len(list((tmp_path / "cache" / "unipush").glob("*.json"))) == 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
        if reader is not None:
            reader.join(timeout=10)
        for pipe in (server.stdout, server.stderr):
            if pipe is not None:
                pipe.close()
    assert len(deliveries) == 400


# -- FCM and VAPID through the same stores ---------------------------------------------------------


def test_fcm_access_token_is_shared_through_the_store(fresh: Sandbox, tmp_path: Path) -> None:
    device = fresh.fcm_device()
    for _ in range(2):  # two store objects on one directory: what two processes do
        config = fresh.fcm_config()
        with PushClient(fcm=config, verify=fresh.ssl_context(), credential_store=FileStore(tmp_path / "c")) as client:
            assert client.send(Notification(title="fcm"), device).ok
    assert fresh.fcm.token_requests == 1  # the second client used the first one's token
    assert config.store_key is not None
    assert config.store_key.startswith("fcm:sandbox@")
    stored = FileStore(tmp_path / "c").load(config.store_key)
    assert stored is not None
    assert "PRIVATE KEY" not in stored.to_json()


def test_fcm_refresh_after_a_401_replaces_the_stored_token_once(
    fresh: Sandbox, redis_url: str, request: pytest.FixtureRequest
) -> None:
    store = RedisStore(redis_url, prefix=prefix_for(request))
    device = fresh.fcm_device()
    with PushClient(fcm=fresh.fcm_config(), verify=fresh.ssl_context(), credential_store=store) as client:
        assert client.send(Notification(title="one"), device).ok
        fresh.fail(401, provider="fcm")  # a plain 401: the access token is bad, refresh it once
        result = client.send(Notification(title="two"), device)
    assert result.ok, result
    assert result.attempts == 2
    assert fresh.fcm.token_requests == 2


def test_vapid_tokens_are_shared_per_audience(fresh: Sandbox, tmp_path: Path) -> None:
    subscription = fresh.subscribe()
    headers: list[str] = []
    minted: list[int] = []
    for _ in range(2):  # two store objects on one directory: what two processes do
        config = fresh.webpush_config()
        store = FileStore(tmp_path / "c")
        with PushClient(webpush=config, verify=fresh.ssl_context(), credential_store=store) as client:
            assert client.send(Notification(title="web", deep_link="https://example.com/"), subscription).ok
        headers.append(config.signer.authorization(subscription.endpoint, now=datetime.now(timezone.utc)))
        minted.append(config.signer.mint_count)
    assert minted == [1, 0]
    assert headers[0] == headers[1]
    assert len(list((tmp_path / "c").glob("*.json"))) == 1
