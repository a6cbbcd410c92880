"""``unipush send`` against the sandbox: flags, files, dead tokens, output, exit codes and errors."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import (
    PYTHON,
    assert_one_line_error,
    cli_sandbox,
    env,
    flags,
    isolate,
    run,
    subprocess_env,
)
from unipush.cli import main
from unipush.cli._common import CliError
from unipush.sandbox import Sandbox

LINK = "https://shop.example/orders/1"


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with cli_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(module_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sandbox:
    isolate(monkeypatch, tmp_path)
    module_sandbox.inbox.clear()
    module_sandbox.faults.clear()
    return module_sandbox


@pytest.fixture
def info(sandbox: Sandbox) -> dict[str, Any]:
    return sandbox.info()


def test_send_to_each_kind_of_target_given_as_flags(
    sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    apns, fcm, subscription = sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()
    code, out, err = run(
        capsys,
        "send", "--title", "Order shipped", "--body", "#1 is on its way", "--link", LINK,
        "--badge", "2", "--sound", "default", "--collapse-key", "order-1", "--ttl", "1h", "--priority", "high",
        "--data", "order_id=1", "--data", "eq=a=b", "--action", f"track=Track={LINK}?tab=track&x=1",
        "--apns", apns.token, f"--fcm={fcm.token}", "--fcm-topic", "news",
        "--webpush", json.dumps(subscription.to_dict()),
        *flags(info),
    )  # fmt: skip
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    # One line per target, in the order given, then the summary.
    assert [line.split()[0] for line in lines[:4]] == ["apns", "fcm", "fcm", "webpush"]
    assert all(" sent (id " in line for line in lines[:4])
    assert lines[4].startswith("4 targets in ")
    assert "4 sent, 0 failed; invalid tokens: 0" in lines[4]

    [to_apns] = sandbox.inbox.for_target(apns.token)
    aps = to_apns.payload["aps"]  # type: ignore[index]
    assert aps["alert"] == {"title": "Order shipped", "body": "#1 is on its way"}
    assert aps["badge"] == 2
    assert aps["sound"] == "default"
    assert to_apns.headers["apns-collapse-id"] == "order-1"
    assert to_apns.headers["apns-priority"] == "10"
    assert to_apns.payload["order_id"] == "1"  # type: ignore[index]
    assert to_apns.payload["eq"] == "a=b"  # type: ignore[index]
    [to_topic] = sandbox.inbox.for_target("news")
    assert to_topic.payload["android"]["ttl"] == "3600s"  # type: ignore[index]
    [to_browser] = sandbox.inbox.for_target(subscription.endpoint)
    notification = to_browser.payload["notification"]  # type: ignore[index]
    assert notification["navigate"] == LINK
    assert notification["actions"] == [{"action": "track", "title": "Track", "navigate": f"{LINK}?tab=track&x=1"}]
    assert len(sandbox.inbox) == 4


def test_credentials_from_the_environment(
    sandbox: Sandbox, info: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in env(info).items():
        monkeypatch.setenv(name, value)
    device = sandbox.fcm_device()
    code, _out, err = run(capsys, "send", "--title", "from env", f"--fcm={device.token}")
    assert code == 0, err
    [delivery] = sandbox.inbox.for_target(device.token)
    assert delivery.payload["notification"]["title"] == "from env"  # type: ignore[index]


def test_sandbox_flag_alone_sends_to_a_new_device_of_each_provider(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "send", "--sandbox", "--title", "Hi", "--link", LINK)
    assert code == 0, err
    assert "3 targets in " in out
    assert "3 sent, 0 failed" in out
    for provider in ("apns", "fcm", "webpush"):
        assert f"[{provider}] " in out  # what each sandbox device received
    assert '"title": "Hi"' in out


def _csv_file(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["provider", "token", "endpoint", "p256dh", "auth", "user_id"])
        writer.writerows(rows)
    return path


def test_csv_file_with_dead_and_malformed_tokens(
    sandbox: Sandbox, info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_apns, dead_apns = sandbox.apns_device(), sandbox.apns_device()
    live_fcm, dead_fcm = sandbox.fcm_device(), sandbox.fcm_device()
    live_sub, dead_sub = sandbox.subscribe(), sandbox.subscribe()
    sandbox.invalidate(dead_apns)
    sandbox.invalidate(dead_fcm)
    sandbox.invalidate(dead_sub)
    rows = [
        ["apns", live_apns.token, "", "", "", "u1"],
        ["apns", dead_apns.token, "", "", "", "u2"],
        ["fcm", live_fcm.token, "", "", "", "u3"],
        ["fcm", dead_fcm.token, "", "", "", "u4"],
        ["webpush", "", live_sub.endpoint, live_sub.p256dh, live_sub.auth, "u5"],
        ["webpush", "", dead_sub.endpoint, dead_sub.p256dh, dead_sub.auth, "u6"],
        ["apns", "not-a-hex-token", "", "", "", "u7"],  # malformed: an invalid token too
        ["pigeon", "abc", "", "", "", "u8"],  # not a target at all: skipped, not "invalid"
        ["", "", "", "", "", ""],  # blank: ignored
    ]
    targets = _csv_file(tmp_path / "targets.csv", rows)
    invalid = tmp_path / "invalid.csv"
    code, out, err = run(
        capsys, "send", "--title", "Hi", "--link", LINK, "--file", str(targets), "--invalid-out", str(invalid),
        *flags(info),
    )  # fmt: skip
    assert code == 1  # some failed
    summary, *details = out.splitlines()
    assert "8 targets in " in summary
    assert "3 sent, 3 failed, 2 rows skipped; invalid tokens: 4" in summary
    assert details[0].startswith("  failures: ")
    for label in ("skipped row ×2", "Unregistered ×1", "UNREGISTERED ×1", "GONE ×1"):
        assert label in details[0], details
    assert f"invalid tokens written to {invalid} (4)" in out
    # Bad rows are reported with their line, one line each, and the run goes on.
    assert f"{targets} line 8: token: must be hexadecimal" in err
    assert f"{targets} line 9: unknown provider 'pigeon'" in err
    assert "\r" not in err  # stderr is not a terminal: no progress line
    # The invalid-tokens file is a targets file itself: same header, the original rows, extra columns kept.
    written = list(csv.reader(io.StringIO(invalid.read_text())))
    assert written[0] == ["provider", "token", "endpoint", "p256dh", "auth", "user_id"]
    assert sorted(row[-1] for row in written[1:]) == ["u2", "u4", "u6", "u7"]
    assert sorted(written[1:]) == sorted(rows[i] for i in (1, 3, 5, 6))
    assert {d.target for d in sandbox.inbox} == {live_apns.token, live_fcm.token, live_sub.endpoint}


def test_jsonl_file_and_invalid_lines_kept_verbatim(
    sandbox: Sandbox, info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_sub, dead_sub = sandbox.subscribe(), sandbox.subscribe()
    dead_apns = sandbox.apns_device()
    sandbox.invalidate(dead_sub)
    sandbox.invalidate(dead_apns)
    lines = [
        json.dumps({"provider": "apns", "token": sandbox.apns_device().token}),
        json.dumps(live_sub.to_dict()),  # a browser's PushSubscription.toJSON(), as it is
        '{"provider": "fcm", "topic": "news"}',
        "",
        f'{{ "provider" : "apns", "token" : "{dead_apns.token}", "user": 7 }}',  # kept byte for byte
        json.dumps(dead_sub.to_dict()),
        '{"provider": "fcm", "condition": "\'a\' in topics && \'b\' in topics"}',
        "not json",
    ]
    targets = tmp_path / "targets.jsonl"
    targets.write_text("\n".join(lines) + "\n")
    invalid = tmp_path / "dead.jsonl"
    code, out, err = run(
        capsys, "send", "--title", "Hi", "--link", LINK, "--file", str(targets), "--invalid-out", str(invalid),
        *flags(info),
    )  # fmt: skip
    assert code == 1
    assert "7 targets in " in out
    assert "4 sent, 2 failed, 1 rows skipped; invalid tokens: 2" in out
    assert f"{targets} line 8: not valid JSON" in err
    assert sorted(invalid.read_text().splitlines()) == sorted([lines[4], lines[5]])
    assert len(sandbox.inbox) == 4


def test_file_from_standard_input(
    sandbox: Sandbox, info: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    device = sandbox.apns_device()
    stdin = io.TextIOWrapper(io.BytesIO(f"provider,token\napns,{device.token}\n".encode()))
    monkeypatch.setattr("sys.stdin", stdin)
    code, _out, err = run(capsys, "send", "--body", "piped", "--file", "-", *flags(info))
    assert code == 0, err
    assert sandbox.inbox.for_target(device.token)


def test_json_output(sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    live, dead = sandbox.apns_device(), sandbox.apns_device()
    sandbox.invalidate(dead)
    code, out, _ = run(
        capsys, "send", "--title", "Hi", "--apns", live.token, "--apns", dead.token, "--json", *flags(info)
    )
    assert code == 1
    first, second, summary = (json.loads(line) for line in out.splitlines())
    assert first["target"] == live.token
    assert first["ok"]
    assert first["status"] == 200
    assert first["message_id"]
    assert second["target"] == dead.token
    assert not second["ok"]
    assert second["reason"] == "Unregistered"
    assert second["token_invalid"]
    assert second["invalidated_at"]
    assert summary["summary"]["sent"] == 1
    assert summary["summary"]["invalid_tokens"] == 1
    assert summary["summary"]["reasons"] == {"Unregistered": 1}


def test_dry_run_renders_and_sends_nothing(
    sandbox: Sandbox, info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = tmp_path / "t.csv"
    targets.write_text(f"provider,token\napns,{'ab' * 32}\nfcm,{'c' * 40}\n")
    code, out, err = run(capsys, "send", "--title", "Hi", "--file", str(targets), "--dry-run", *flags(info))
    assert code == 0, err
    apns, fcm = (json.loads(line) for line in out.splitlines())
    assert apns["provider"] == "apns"
    assert apns["headers"]["authorization"] == "<redacted>"
    assert apns["payload"]["aps"]["alert"]["title"] == "Hi"
    assert fcm["payload"]["message"]["token"] == "c" * 40
    assert "2 targets in " in err
    assert "(dry run: nothing was sent)" in err
    assert len(sandbox.inbox) == 0


def test_a_provider_the_file_needs_but_nobody_configured_stops_the_input(
    sandbox: Sandbox, info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apns_only = [*flags(info)[: flags(info).index("--fcm-service-account")], "--ca", info["ca_path"]]
    targets = tmp_path / "t.csv"
    targets.write_text(f"provider,token\napns,{'ab' * 32}\nfcm,{'c' * 40}\napns,{'cd' * 32}\n")
    code, out, err = run(capsys, "send", "--title", "Hi", "--file", str(targets), *apns_only)
    assert code == 2
    assert "1 targets in " in out  # what was in flight finished and was counted
    assert_one_line_error(err, f"{targets} line 3: fcm is not configured", "--fcm-service-account")
    assert len(sandbox.inbox) == 1


def test_failures_other_than_dead_tokens_exit_1(
    sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.fail(400, provider="fcm", reason="INVALID_ARGUMENT", times=None)
    code, out, _ = run(capsys, "send", "--title", "Hi", f"--fcm={sandbox.fcm_device().token}", *flags(info))
    assert code == 1
    assert "failed: INVALID_ARGUMENT" in out
    assert "0 sent, 1 failed" in out


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["send", "--title", "x"], ["no targets", "--sandbox"]),
        (["send", "--apns", "ab" * 32], ["nothing to send"]),
        (["send", "--title", "x", "--apns", "xyz"], ["--apns: token: must be hexadecimal"]),
        (["send", "--title", "x", "--webpush", "{}"], ["--webpush: endpoint: is required"]),
        (["send", "--title", "x", "--webpush", "@missing.json"], ["--webpush: cannot read missing.json"]),
        (["send", "--title", "x", "--badge", "-1"], ["--badge: must be"]),
        (["send", "--title", "x", "--link", "not a url"], ["--link: "]),
        (["send", "--title", "x", "--data", "novalue"], ["--data: expected KEY=VALUE"]),
        (["send", "--title", "x", "--action", "only-id"], ["--action: expected ID=TITLE"]),
        (["send", "--title", "x", "--file", "missing.csv"], ["--file: cannot open missing.csv"]),
        (["send", "--title", "x", "--apns", "ab" * 32, "--file", "t.csv"], ["not both"]),
        (["send", "--title", "x", "--apns", "ab" * 32], ["no provider configured"]),
        (["send", "--title", "x", "--apns", "ab" * 32, "--apns-key", "k.p8"], ["apns: key_id is required"]),
        (
            ["send", "--title", "x", "--apns", "ab" * 32, "--apns-topic", "a.b"],
            ["--apns-topic given, but apns is not configured: give its key (--apns-key"],
        ),
        (
            [
                "send",
                "--title",
                "x",
                "--apns",
                "ab" * 32,
                "--apns-key",
                "k.p8",
                "--apns-key-id",
                "ABCDEFGHIJ",
                "--apns-team-id",
                "ABCDEFGHIJ",
                "--apns-topic",
                "a.b",
            ],
            ["APNs key file not found: 'k.p8'"],
        ),
        (["send", "--title", "x", "--fcm", "t" * 40, "--config", "nope.toml"], ["config file not found: nope.toml"]),
        (["send", "--title", "x", "--concurrency", "0", "--sandbox"], ["concurrency must be at least 1"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str],
    fragments: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    isolate(monkeypatch, tmp_path)
    (tmp_path / "t.csv").write_text("provider,token\n")
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert_one_line_error(err, *fragments)


def test_unconfigured_provider_for_a_flag_target_names_the_settings(
    sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    apns_only = flags(info)[: flags(info).index("--fcm-service-account")]
    code, _, err = run(capsys, "send", "--title", "x", "--fcm", "t" * 40, *apns_only)
    assert code == 2
    assert_one_line_error(err, "--fcm: fcm is not configured", "UNIPUSH_FCM_SERVICE_ACCOUNT", "[fcm] service_account")


def test_argparse_errors_are_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["send", "--no-such-flag"])
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "unrecognized arguments: --no-such-flag", "unipush send --help")
    with pytest.raises(SystemExit):
        main(["send", "--ttl", "soon"])
    assert_one_line_error(capsys.readouterr().err, "--ttl", "expected seconds")


def test_debug_raises_instead(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)
    with pytest.raises(CliError, match="no targets"):
        main(["send", "--title", "x", "--debug"])


def test_traceback_only_with_debug_in_a_real_process(tmp_path: Path) -> None:
    argv = [PYTHON, "-m", "unipush", "send", "--title", "x", "--apns", "ab" * 32, "--apns-key", "k.p8",
            "--apns-key-id", "ABCDEFGHIJ", "--apns-team-id", "ABCDEFGHIJ", "--apns-topic", "a.b"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=subprocess_env(), check=False)
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "APNs key file not found")
    done = subprocess.run(
        [*argv, "--debug"], capture_output=True, text=True, cwd=tmp_path, env=subprocess_env(), check=False
    )
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "ConfigurationError" in done.stderr


def test_interrupt_prints_the_summary_and_exits_130(sandbox: Sandbox, info: dict[str, Any], tmp_path: Path) -> None:
    targets = tmp_path / "t.csv"
    targets.write_text("provider,token\n" + "".join(f"apns,{i:064x}\n" for i in range(5000)))
    sandbox.latency(0.05, "apns")  # 5000 targets, 10 at a time: 25 seconds unless interrupted
    argv = [PYTHON, "-m", "unipush", "send", "--title", "x", "--file", str(targets), "--concurrency", "10"]
    process = subprocess.Popen(
        [*argv, *flags(info)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=subprocess_env(),
    )
    deadline = time.monotonic() + 20
    while len(sandbox.inbox) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "(interrupted)" in out
    assert err.strip().endswith("unipush: interrupted")
    assert "Traceback" not in err
    done = int(out.split(" targets in ")[0].replace(",", ""))
    assert done < 5000  # stopped early; the answers still in flight at the signal are not counted
