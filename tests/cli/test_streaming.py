"""``unipush send --file``: 100,000 targets through the sandbox with flat memory, every result accounted for.

The command runs in a subprocess, so its peak RSS is its own; the sandbox runs here. The same command
is run on 20,000 and on 100,000 rows: if the rows, the targets or the results were kept, the larger run
would need some 40 MB more (about 450 bytes a row); streamed, it needs only what ``--concurrency`` holds.
One bounded cost does grow with the count: h2 remembers up to 65,536 closed stream ids per connection
(``H2Connection.MAX_CLOSED_STREAMS``, about 120 bytes each), some 8 MB at most, hence the margin.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import PYTHON, cli_sandbox, flags, subprocess_env
from unipush.apns import ApnsDevice
from unipush.fcm import FcmDevice
from unipush.sandbox import Delivery, Sandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads the peak RSS from getrusage (Linux units)")

SMALL, LARGE = 20_000, 100_000
GROWTH_LIMIT_KB = 24 * 1024

# Runs unipush's main() and reports the process's peak resident set size (kilobytes on Linux).
WRAPPER = """
import resource, sys
from unipush.cli import main
code = main(sys.argv[1:])
sys.stderr.write("PEAK_RSS_KB %d\\n" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
raise SystemExit(code)
"""


def _token(i: int) -> tuple[str, str]:
    """Row ``i``: every tenth an FCM token, the others APNs."""
    if i % 10 == 0:
        return "fcm", f"{i:040d}:APA91b-unipush-test"
    return "apns", f"{i:064x}"


def _dead(i: int) -> bool:
    return i % 1000 in (7, 500)  # 0.2 %: an APNs token (…007) and an FCM one (…500) per thousand


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with cli_sandbox() as sandbox:
        for i in range(LARGE):
            if _dead(i):
                provider, token = _token(i)
                sandbox.invalidate(ApnsDevice(token) if provider == "apns" else FcmDevice(token))
        yield sandbox


def _write_targets(path: Path, count: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["provider", "token", "user_id"])
        for i in range(count):
            writer.writerow([*_token(i), f"user-{i}"])


def _send(sandbox: Sandbox, tmp_path: Path, count: int) -> tuple[subprocess.CompletedProcess[str], int, float, int]:
    targets, invalid = tmp_path / f"targets-{count}.csv", tmp_path / f"invalid-{count}.csv"
    _write_targets(targets, count)
    delivered = [0]
    lock = threading.Lock()

    def drop(_: Delivery) -> None:
        # Count what arrives and keep the sandbox's own inbox small: this process is not under test.
        with lock:
            delivered[0] += 1
            if delivered[0] % 1000 == 0:
                sandbox.inbox.clear()

    sandbox.inbox.clear()
    sandbox.inbox.subscribe(drop)
    argv = [PYTHON, "-c", WRAPPER, "send", "--title", "Flash sale", "--body", "Today only", "--file", str(targets),
            "--concurrency", "200", "--invalid-out", str(invalid), *flags(sandbox.info())]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=subprocess_env(), timeout=300)
    took = time.perf_counter() - started
    peak = int(re.search(r"PEAK_RSS_KB (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    return done, peak, took, delivered[0]


def test_100k_targets_stream_with_flat_memory(sandbox: Sandbox, tmp_path: Path) -> None:
    small, small_peak, small_took, _ = _send(sandbox, tmp_path, SMALL)
    large, large_peak, large_took, delivered = _send(sandbox, tmp_path, LARGE)

    dead = sum(1 for i in range(LARGE) if _dead(i))
    assert dead == 200
    assert large.returncode == 1, large.stderr  # the dead tokens failed
    summary = large.stdout.splitlines()[0]
    assert summary.startswith(f"{LARGE:,} targets in ")
    assert f"{LARGE - dead:,} sent, {dead:,} failed; invalid tokens: {dead}" in summary
    assert "Unregistered ×100" in large.stdout
    assert "UNREGISTERED ×100" in large.stdout
    assert delivered == LARGE - dead
    # The invalid-tokens file holds exactly the dead rows, as they were in the input.
    rows = list(csv.reader(io.StringIO((tmp_path / f"invalid-{LARGE}.csv").read_text())))
    assert rows[0] == ["provider", "token", "user_id"]
    assert sorted(rows[1:]) == sorted([*_token(i), f"user-{i}"] for i in range(LARGE) if _dead(i))
    assert "PEAK_RSS_KB" in large.stderr
    assert large.stderr.count("\n") == 1  # nothing else on stderr: not a terminal, so no progress line
    assert small.returncode == 1

    growth = large_peak - small_peak
    print(  # shown with -s; the numbers the report quotes
        f"\n{SMALL:,} rows: {small_took:.1f}s, peak RSS {small_peak / 1024:.1f} MB; "
        f"{LARGE:,} rows: {large_took:.1f}s, peak RSS {large_peak / 1024:.1f} MB (+{growth / 1024:.1f} MB)"
    )
    assert growth < GROWTH_LIMIT_KB, f"peak RSS grew by {growth / 1024:.1f} MB from {SMALL:,} to {LARGE:,} rows"
