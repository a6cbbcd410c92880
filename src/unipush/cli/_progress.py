"""The progress line of ``unipush send`` (a ``\\r``-rewritten line on a terminal) and the run's tally."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TextIO

from unipush import SendResult, ValidationError
from unipush.cli._notification import cli_error_text

__all__ = ["Progress", "Tally", "failure_label", "format_elapsed", "reason_text", "render_progress"]

_BAR_WIDTH = 20
_MAX_REASONS = 8  # distinct failure reasons kept by name; the rest are counted as "other"


def format_elapsed(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` from an hour on)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def render_progress(
    done: int, failed: int, invalid: int, elapsed: float, fraction: float | None = None, *, width: int = _BAR_WIDTH
) -> str:
    """One progress line: a bar when the input's size is known, counts, rate and elapsed time.

    >>> render_progress(5000, 12, 3, 2.0, 0.25, width=8)
    ' 25% [##......]  5,000 done  12 failed  3 invalid  2,500/s  0:02'
    """
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = []
    if fraction is not None:
        fraction = min(1.0, max(0.0, fraction))
        filled = int(fraction * width)
        parts.append(f"{int(fraction * 100):>3}% [{'#' * filled}{'.' * (width - filled)}]")
    parts.append(f"{done:,} done")
    parts.append(f"{failed:,} failed")
    parts.append(f"{invalid:,} invalid")
    parts.append(f"{rate:,.0f}/s")
    parts.append(format_elapsed(elapsed))
    return "  ".join(parts)


class Progress:
    """Rewrites one line on ``stream`` at most every ``interval`` seconds; silent when not ``enabled``.

    ``enabled`` defaults to ``stream.isatty()``: a progress line in a log file or a pipe is noise.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool | None = None,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self.enabled = _isatty(stream) if enabled is None else enabled
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._next = 0.0
        self._width = 0

    def update(self, tally: Tally, fraction: float | None, *, force: bool = False) -> None:
        """Redraw the line if enough time has passed (or ``force``)."""
        if not self.enabled:
            return
        now = self._clock()
        if not force and now < self._next:
            return
        self._next = now + self._interval
        line = render_progress(tally.done, tally.failed, tally.invalid, now - self._started, fraction)
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self._stream.write(f"\r{line}{' ' * pad}")
        self._stream.flush()

    def finish(self, tally: Tally, fraction: float | None) -> None:
        """Draw the final counts and end the line, so it stays above the summary."""
        if self.enabled:
            self.update(tally, fraction, force=True)
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0

    def clear(self) -> None:
        """Erase the line, so the summary starts on a clean one."""
        if self.enabled and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def reason_text(reason: object) -> str:
    """A provider reason as text: a string enum's value (``Unregistered``), another enum's name (``GONE``)."""
    if isinstance(reason, Enum):
        return reason.value if isinstance(reason.value, str) else reason.name
    return str(reason)


def failure_label(result: SendResult) -> str:
    """A short name for why a send failed: the provider's reason, else the error's kind."""
    if result.reason is not None:
        return reason_text(result.reason)
    error = result.error
    if isinstance(error, ValidationError):
        return f"ValidationError ({cli_error_text(error)})"
    if error is not None:
        return type(error).__name__
    return f"HTTP {result.status_code}"


@dataclass(slots=True)
class Tally:
    """Counts for the progress line and the summary; memory stays constant however many targets run."""

    sent: int = 0
    failed: int = 0
    invalid: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> int:
        """Targets finished (sent or failed), skipped rows included."""
        return self.sent + self.failed + self.skipped

    def add(self, result: SendResult) -> None:
        """Count one result."""
        if result.ok:
            self.sent += 1
            return
        self.failed += 1
        if result.token_invalid:
            self.invalid += 1
        self.note(failure_label(result))

    def note(self, label: str) -> None:
        """Count one failure under ``label`` (kept by name for the first few distinct labels)."""
        if label in self.reasons or len(self.reasons) < _MAX_REASONS:
            self.reasons[label] += 1
        else:
            self.reasons["other"] += 1
