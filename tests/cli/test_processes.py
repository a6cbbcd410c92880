"""``unipush send --file --processes N``: the same results, ``--invalid-out`` and report, from worker processes.

The command runs in a subprocess in a process group of its own, so the test can tell that none of the
processes it started (its workers, multiprocessing's resource tracker) outlives it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import PYTHON, assert_one_line_error, flags, isolate, run, subprocess_env
from tests.process_support import live_processes
from unipush.apns import ApnsDevice
from unipush.fcm import FcmDevice
from unipush.sandbox import Sandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="looks at the command's processes through /proc")

ROWS = 4000


def _token(i: int) -> tuple[str, str]:
    """Row ``i``: every tenth an FCM token, the others APNs."""
    if i % 10 == 0:
        return "fcm", f"{i:040d}:APA91b-unipush-processes"
    return "apns", f"{i:064x}"


def _dead(i: int) -> bool:
    return i % 500 in (7, 250)  # an APNs token (…007) and an FCM one (…250) per five hundred


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        for i in range(ROWS):
            if _dead(i):
                provider, token = _token(i)
                sandbox.invalidate(ApnsDevice(token) if provider == "apns" else FcmDevice(token))
        yield sandbox


def _targets(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["provider", "token", "user_id"])
        for i in range(ROWS):
            writer.writerow([*_token(i), f"user-{i}"])
        writer.writerow(["apns", "not-hex", "user-malformed"])  # skipped, and written to --invalid-out
    return path


def _start(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "unipush", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=subprocess_env(),
        start_new_session=True,  # a process group of its own, as a shell gives a command
    )


def _left_behind(group: int) -> list[int]:
    """Processes of ``group`` still alive (after a grace period: a killed worker takes a moment to go)."""
    until = time.monotonic() + 10
    while (alive := live_processes(group=group)) and time.monotonic() < until:
        time.sleep(0.05)
    return alive


@contextlib.contextmanager
def _reaped(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # only if the test failed half-way
        process.communicate()


def test_two_processes_give_the_same_report_and_invalid_out(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.inbox.clear()
    targets, invalid = _targets(tmp_path / "targets.csv"), tmp_path / "invalid.csv"
    argv = ["send", "--title", "Flash sale", "--body", "Today only", "--file", str(targets),
            "--processes", "2", "--invalid-out", str(invalid), *flags(sandbox.info())]  # fmt: skip
    with _reaped(_start(argv, tmp_path)) as process:
        out, err = process.communicate(timeout=300)
        assert _left_behind(process.pid) == []

    dead = sum(1 for i in range(ROWS) if _dead(i))
    assert dead == 16
    assert process.returncode == 1, err  # the dead tokens failed, a row was skipped
    summary, failures, written, *table = out.splitlines()
    assert table[0].split() == ["provider", "outcome", "reason", "count", "share"]  # the results' table
    assert summary.startswith(f"{ROWS + 1:,} targets in ")
    assert summary.endswith(f": {ROWS - dead:,} sent, {dead} failed, 1 rows skipped; invalid tokens: {dead + 1}")
    assert failures == "  failures: Unregistered ×8, UNREGISTERED ×8, skipped row ×1"
    assert written == f"  invalid tokens written to {invalid} ({dead + 1})"
    assert err == f"unipush: warning: {targets} line {ROWS + 2}: token: must be hexadecimal (0-9, a-f), " \
        "as the device reported it (skipped)\n"  # fmt: skip
    rows = list(csv.reader(io.StringIO(invalid.read_text())))
    assert rows[0] == ["provider", "token", "user_id"]
    expected = [[*_token(i), f"user-{i}"] for i in range(ROWS) if _dead(i)] + [["apns", "not-hex", "user-malformed"]]
    assert sorted(rows[1:]) == sorted(expected)
    delivered = Counter(d.target for d in sandbox.inbox.all())
    assert set(delivered.values()) == {1}
    assert set(delivered) == {_token(i)[1] for i in range(ROWS) if not _dead(i)}
    # The workers shared one APNs provider token through the command's FileStore.
    assert sandbox.apns.jwt_verifications == 1


def test_ctrl_c_stops_the_workers_and_prints_the_summary(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.inbox.clear()
    targets = tmp_path / "targets.csv"
    targets.write_text("provider,token\n" + "".join(f"apns,{i:064x}\n" for i in range(10**6, 10**6 + 50_000)))
    fault = sandbox.latency(0.05, "apns")  # 50,000 targets, 2 × 10 at a time: two minutes unless interrupted
    argv = ["send", "--title", "x", "--file", str(targets), "--processes", "2", "--concurrency", "10",
            *flags(sandbox.info())]  # fmt: skip
    try:
        with _reaped(_start(argv, tmp_path)) as process:
            deadline = time.monotonic() + 60
            while len(sandbox.inbox) < 2200 and time.monotonic() < deadline:  # a first chunk of 1,000 is sent
                time.sleep(0.05)
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
            out, err = process.communicate(timeout=60)
            assert _left_behind(process.pid) == []
    finally:
        sandbox.faults.remove(fault)
    assert process.returncode == 130, err
    assert "(interrupted)" in out
    assert err == "unipush: interrupted\n"  # no traceback from the workers, which ignore SIGINT
    done = int(out.split(" targets in ")[0].replace(",", ""))
    assert done < 50_000  # stopped early; the chunks in flight at the signal are not counted


def test_processes_must_be_at_least_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate(monkeypatch, tmp_path)
    code, _out, err = run(capsys, "send", "--sandbox", "--title", "x", "--processes", "0")
    assert code == 2
    assert_one_line_error(err, "--processes must be at least 1, got 0")


def test_ctrl_c_while_the_workers_wait_for_input(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.inbox.clear()
    argv = ["send", "--title", "x", "--file", "-", "--format", "csv", "--processes", "2", *flags(sandbox.info())]
    process = subprocess.Popen(
        [PYTHON, "-m", "unipush", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=subprocess_env(),
        start_new_session=True,
    )
    with _reaped(process):
        assert process.stdin is not None
        # Two chunks' worth and a little more: each worker sends one, then waits for the next, and the
        # command waits for the rest of standard input.
        rows = "".join(f"apns,{i:064x}\n" for i in range(2 * 10**6, 2 * 10**6 + 2010))
        process.stdin.write("provider,token\n" + rows)
        process.stdin.flush()
        sandbox.inbox.wait_for(2000, timeout=60)
        time.sleep(0.5)  # the workers hand their answers back and wait for work
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert _left_behind(process.pid) == []
    assert process.returncode == 130, err
    assert "(interrupted)" in out
    assert err == "unipush: interrupted\n"  # an idle worker ignores SIGINT too: no traceback from it


def test_sandbox_flag_with_processes_shares_the_sandbox_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate(monkeypatch, tmp_path)
    targets = tmp_path / "targets.csv"
    targets.write_text("provider,token\n" + "".join(f"apns,{i:064x}\n" for i in range(3000)))
    # Three chunks of 1,000: both workers send, each needs the token of a key made for this one run.
    code, out, err = run(capsys, "send", "--sandbox", "--title", "x", "--file", str(targets), "--processes", "2")
    assert code == 0, out + err
    assert "3,000 targets in " in out
    assert ": 3,000 sent, 0 failed; invalid tokens: 0" in out
