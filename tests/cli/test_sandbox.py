"""``unipush sandbox --port/--dir/--apns-token-update-interval``, in a real subprocess, over real sockets.

Each test starts the command the way another program would, reads its ``--json`` line, talks to it over
TLS and stops it with SIGTERM; every read has a deadline, so a hung sandbox fails the test instead of
hanging the suite. docs/sandbox.md's curl commands for ``POST /subscribe`` are run here as written.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.support import ROOT, subprocess_env
from unipush import MemoryStore, Notification, PushClient
from unipush.apns import APNs, ApnsDevice
from unipush.cli._common import CliError
from unipush.cli.sandbox import INFO_FILE, sandbox_ports
from unipush.webpush import WebPush, WebPushSubscription, generate_vapid_keys

DEADLINE = 30.0  # seconds for any one line of output


class _Server:
    """A ``unipush sandbox --json`` subprocess whose stdout lines are read with a deadline."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "unipush", "sandbox", "--json", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(PYTHONWARNINGS="error"),
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.info: dict[str, Any] = json.loads(self.line())

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def line(self) -> str:
        try:
            return self._lines.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"no output from unipush sandbox within {DEADLINE}s") from None

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return self.process.returncode, err


@contextlib.contextmanager
def _sandbox(*args: str, cwd: Path | None = None) -> Iterator[_Server]:
    server = _Server(*args, cwd=cwd)
    try:
        yield server
    finally:
        code, err = server.stop()
        assert code == 0, err


def _free_base_port() -> int:
    """A port P with P, P+1 and P+2 free right now (the sandbox binds them a moment later)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base: int = probe.getsockname()[1]
        if base + 2 > 65535:
            continue
        with contextlib.ExitStack() as held:
            try:
                for port in (base, base + 1, base + 2):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise AssertionError("no three consecutive free ports")


def _apns(info: dict[str, Any]) -> APNs:
    return APNs(
        key=Path(info["apns_key_path"]),
        key_id=info["apns_key_id"],
        team_id=info["apns_team_id"],
        topic=info["apns_topic"],
        base_url=info["apns_url"],
    )


def _send_twice_with_fresh_tokens(info: dict[str, Any]) -> list[str | None]:
    """Two clients, each signing its own provider token for the same key: two runs of a script."""
    reasons = []
    for _ in range(2):
        # Its own MemoryStore: within one process, clients would otherwise share the first token.
        with PushClient(apns=_apns(info), verify=info["ca_path"], credential_store=MemoryStore()) as client:
            result = client.send(Notification(title="run"), ApnsDevice("ab" * 32))
        reasons.append(None if result.ok else str(getattr(result.reason, "value", result.reason)))
    return reasons


def test_port_and_dir_make_the_urls_and_files_predictable(tmp_path: Path) -> None:
    base = _free_base_port()
    directory = tmp_path / "sandbox"
    with _sandbox("--port", str(base), "--dir", str(directory)) as server:
        info = server.info
        assert [info["apns_url"], info["fcm_url"], info["webpush_url"]] == [
            f"https://127.0.0.1:{port}" for port in (base, base + 1, base + 2)
        ]
        assert info["ca_path"] == str(directory / "ca.pem")
        assert info["fcm_service_account_path"] == str(directory / "service-account.json")
        assert info["webpush_vapid_private_key_path"] == str(directory / "vapid-private.pem")
        assert Path(info["apns_key_path"]).parent == directory
        assert json.loads((directory / INFO_FILE).read_text()) == info  # for programs that did not start it
        # Reachable on the printed port, with the CA in the printed place.
        with PushClient(apns=_apns(info), verify=str(directory / "ca.pem")) as client:
            assert client.send(Notification(title="fixed port"), ApnsDevice("cd" * 32)).ok
        assert json.loads(server.line())["target"] == "cd" * 32
    assert (directory / "ca.pem").is_file()  # kept on exit, unlike the default temporary directory


def test_relative_dir_is_printed_as_an_absolute_path(tmp_path: Path) -> None:
    with _sandbox("--dir", "relative", cwd=tmp_path) as server:
        assert server.info["ca_path"] == str(tmp_path / "relative" / "ca.pem")


def test_the_token_update_interval_option_turns_apples_rule_off() -> None:
    with _sandbox() as server:  # Apple's 20 minutes: a second token for the key within seconds is refused
        assert _send_twice_with_fresh_tokens(server.info) == [None, "TooManyProviderTokenUpdates"]
    with _sandbox("--apns-token-update-interval", "0") as server:
        assert _send_twice_with_fresh_tokens(server.info) == [None, None]


def test_port_out_of_range_is_a_usage_error() -> None:
    assert sandbox_ports(None) == {}
    assert sandbox_ports(65533) == {"apns": 65533, "fcm": 65534, "webpush": 65535}
    for bad in (0, 65534):
        with pytest.raises(CliError, match="--port must be between 1 and 65533"):
            sandbox_ports(bad)
    done = subprocess.run(
        [sys.executable, "-m", "unipush", "sandbox", "--apns-token-update-interval", "soon"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("unipush: error: argument --apns-token-update-interval:")


def _doc_curl_commands() -> list[str]:
    """The ``curl`` commands of docs/sandbox.md's ``POST /subscribe`` console block, continuation lines joined."""
    text = (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```console\n(.*?)```", text, re.S) if "/subscribe" in b)
    commands = []
    lines = iter(block.splitlines())
    for line in lines:
        if line.startswith("$ curl "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + " " + next(lines).strip()
            commands.append(command)
    assert "$ unipush sandbox --json --port 8443 --dir ./sandbox" in block
    return commands


def test_the_documented_curl_subscribe_commands_work(tmp_path: Path) -> None:
    commands = _doc_curl_commands()
    assert len(commands) == 2
    base = _free_base_port()
    key = generate_vapid_keys()
    with _sandbox("--port", str(base), "--dir", "sandbox", cwd=tmp_path) as server:
        info = server.info
        subscriptions = []
        for command in commands:
            # The page's port 8443 (+2 for Web Push) is this test's free one; the key is a real one.
            command = command.replace("8445", str(base + 2)).replace("<your VAPID public key>", key.public_key)
            done = subprocess.run(
                shlex.split(command), capture_output=True, text=True, cwd=tmp_path, timeout=DEADLINE, check=False
            )
            assert done.returncode == 0, done.stderr
            document = json.loads(done.stdout)
            assert sorted(document) == ["endpoint", "expirationTime", "keys"]
            subscriptions.append(WebPushSubscription.from_dict(document))
        plain, bound = subscriptions
        sandbox_key = WebPush(
            vapid_private_key=info["webpush_vapid_private_key_path"],
            subject=info["webpush_subject"],
            allow_local_endpoints=True,
        )
        own_key = WebPush(
            vapid_private_key=key.private_key_pem, subject="mailto:ops@example.com", allow_local_endpoints=True
        )
        for webpush, subscription in ((sandbox_key, plain), (own_key, bound)):
            with PushClient(webpush=webpush, verify=info["ca_path"]) as client:
                result = client.send(Notification(title="curl", deep_link="https://example.com/"), subscription)
            assert result.ok, result
            delivery = json.loads(server.line())
            assert delivery["target"] == subscription.endpoint
            assert delivery["payload"]["notification"]["title"] == "curl"


def test_sandbox_command_prints_its_config_and_deliveries() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "unipush", "sandbox", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert {"apns_url", "fcm_url", "webpush_url", "ca_path"} <= set(info)
        assert Path(info["ca_path"]).is_file()
        # Any program can use it from the printed line alone: here, unipush itself.
        apns = APNs(
            key=Path(info["apns_key_path"]),
            key_id=info["apns_key_id"],
            team_id=info["apns_team_id"],
            topic="dev.unipush.sandbox",
            base_url=info["apns_url"],
        )
        with PushClient(apns=apns, verify=info["ca_path"]) as client:
            result = client.send(Notification(title="from outside"), ApnsDevice("ab" * 32))
        assert result.ok, result
        delivery = json.loads(process.stdout.readline())
        assert delivery["provider"] == "apns"
        assert delivery["payload"]["aps"]["alert"]["title"] == "from outside"
        # A browser-like Web Push subscription, over plain HTTP/2, as a program in another language would.
        with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=info["ca_path"])) as http:
            answer = http.post(info["webpush_subscribe_url"])
        assert answer.status_code == 201
        subscription = WebPushSubscription.from_dict(answer.json())
        webpush = WebPush(
            vapid_private_key=Path(info["webpush_vapid_private_key_path"]),
            subject="mailto:ops@example.com",
            base_url=None,
            allow_local_endpoints=True,  # the sandbox's subscriptions are on 127.0.0.1
        )
        with PushClient(webpush=webpush, verify=info["ca_path"]) as client:
            assert client.send(Notification(title="web", deep_link="https://example.com/"), subscription).ok
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert not Path(info["ca_path"]).exists()  # the sandbox removed its files on exit
