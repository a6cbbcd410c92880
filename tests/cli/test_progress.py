"""The progress line of ``unipush send``: its rendering, its throttling, and that it stays off the logs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.cli.support import cli_sandbox, flags, isolate, run
from unipush.cli._progress import Progress, Tally, format_elapsed, render_progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_render_progress_with_and_without_a_known_size() -> None:
    assert render_progress(5000, 12, 3, 2.0, 0.25, width=8) == (
        " 25% [##......]  5,000 done  12 failed  3 invalid  2,500/s  0:02"
    )
    assert render_progress(1_234_567, 0, 0, 3725.0) == "1,234,567 done  0 failed  0 invalid  331/s  1:02:05"
    assert render_progress(0, 0, 0, 0.0, 0.0, width=4) == "  0% [....]  0 done  0 failed  0 invalid  0/s  0:00"
    assert render_progress(10, 0, 0, 1.0, 1.7, width=4).startswith("100% [####]")  # clamped


def test_format_elapsed() -> None:
    assert format_elapsed(0.4) == "0:00"
    assert format_elapsed(61) == "1:01"
    assert format_elapsed(3600 * 3 + 5) == "3:00:05"


def test_off_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    assert not progress.enabled
    progress.update(Tally(sent=5), 0.5, force=True)
    progress.clear()
    assert stream.getvalue() == ""


def test_on_a_terminal_rewrites_one_line_at_most_every_interval() -> None:
    now = [100.0]
    stream = FakeTerminal()
    progress = Progress(stream, interval=0.1, clock=lambda: now[0])
    assert progress.enabled
    progress.update(Tally(sent=1), None)
    progress.update(Tally(sent=2), None)  # too soon: skipped
    now[0] += 2.0
    progress.update(Tally(sent=1000, failed=4, invalid=2), 0.5)
    written = stream.getvalue()
    assert written.count("\r") == 2
    first, second = written.split("\r")[1:]
    assert first.rstrip() == "1 done  0 failed  0 invalid  0/s  0:00"
    assert second.startswith(" 50% [##########..........]  1,004 done  4 failed  2 invalid  502/s  0:02")
    progress.clear()
    assert stream.getvalue().endswith("\r" + " " * len(second) + "\r")


def test_finish_draws_the_final_counts_and_ends_the_line() -> None:
    stream = FakeTerminal()
    progress = Progress(stream, clock=lambda: 1.0)
    progress.update(Tally(sent=1), None)
    progress.finish(Tally(sent=7), None)
    assert stream.getvalue().rpartition("\r")[2].startswith("7 done")
    assert stream.getvalue().endswith("\n")
    assert Progress(io.StringIO()).enabled is False


def test_a_shorter_line_blanks_the_rest_of_the_longer_one() -> None:
    now = [0.0]
    stream = FakeTerminal()
    progress = Progress(stream, clock=lambda: now[0])
    now[0] = 1.0
    progress.update(Tally(sent=10**6), None)
    long = stream.getvalue()
    now[0] = 1.2
    progress.update(Tally(sent=1), None, force=True)
    short = stream.getvalue()[len(long) :]
    assert len(short) == len(long)  # padded with spaces over the old text


def test_tally_keeps_a_bounded_number_of_reasons() -> None:
    tally = Tally()
    for i in range(20):
        tally.note(f"reason {i}")
    tally.note("reason 0")
    assert len(tally.reasons) == 9  # eight by name, then "other"
    assert tally.reasons["reason 0"] == 2
    assert tally.reasons["other"] == 12


def test_send_shows_progress_only_on_a_terminal_or_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate(monkeypatch, tmp_path)
    targets = tmp_path / "t.csv"
    targets.write_text("provider,token\n" + "".join(f"apns,{i:064x}\n" for i in range(50)))
    with cli_sandbox() as sandbox:
        info = sandbox.info()
        code, _, err = run(capsys, "send", "--title", "x", "--file", str(targets), *flags(info))
        assert code == 0
        assert err == ""  # captured stderr is not a terminal
        code, _, err = run(capsys, "send", "--title", "x", "--file", str(targets), "--progress", *flags(info))
        assert code == 0
    assert err.startswith("\r")
    final = err.rpartition("\r")[2]
    assert final.startswith("100% [####################]  50 done  0 failed  0 invalid")
    assert final.endswith("\n")  # the last state stays on screen, above the summary (on stdout)
