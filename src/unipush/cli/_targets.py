"""Targets for ``unipush send`` / ``render``: from flags, or streamed from a CSV or JSON-lines file.

A file is read one line at a time and never held in memory, so it can have millions of rows.

**CSV** (``.csv``): a header row, then one target per row. Column names are case-insensitive; columns
the command does not know (``user_id``...) are ignored, and kept in ``--invalid-out``.

=============  ===========================================================================
``provider``   ``apns``, ``fcm`` or ``webpush`` (empty with an ``endpoint``: ``webpush``)
``token``      the APNs device token (hex) or the FCM registration token
``topic``      an FCM topic (``provider`` ``fcm``, instead of ``token``)
``condition``  an FCM condition (``provider`` ``fcm``, instead of ``token``)
``endpoint``   the Web Push subscription's endpoint URL
``p256dh``     the subscription's ``keys.p256dh``
``auth``       the subscription's ``keys.auth``
=============  ===========================================================================

**JSON lines** (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line, with the same names
(``{"provider": "apns", "token": "..."}``, ``{"provider": "fcm", "topic": "news"}``), or a browser's
``PushSubscription.toJSON()`` object as it is (``{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}``).
Blank lines are skipped in both formats.

Another extension (or ``-`` for standard input) is read as JSON lines when its first character is
``{``, else as CSV; ``--format`` decides explicitly.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from unipush import Target, ValidationError
from unipush.apns import ApnsDevice
from unipush.cli._common import docs_url, fail
from unipush.fcm import FcmCondition, FcmDevice, FcmTopic
from unipush.webpush import WebPushSubscription

if TYPE_CHECKING:
    from unipush.sandbox import Sandbox

__all__ = [
    "BadRow",
    "InvalidTokenWriter",
    "Row",
    "TargetFile",
    "add_target_arguments",
    "flag_targets",
    "select_targets",
    "target_from_fields",
]

Format = Literal["csv", "jsonl", "flags"]
Raw = str | list[str]
"""A target as it appeared in the input: a CSV row's cells, a JSON line, or a flag's value."""

COLUMNS = ("provider", "token", "topic", "condition", "endpoint", "p256dh", "auth")
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})


@dataclass(frozen=True, slots=True)
class Row:
    """One target read from the input, with its line number (its position, for flags) and its original form."""

    target: Target
    line: int
    raw: Raw


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that is not a usable target. ``bad_token`` says the token itself was refused (malformed)."""

    line: int
    message: str
    raw: Raw
    bad_token: bool


class RowError(Exception):
    """A row's structure is wrong (missing column, unknown provider); not a bad token."""


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(f"{name} must be a string, got {type(value).__name__}")
    value = value.strip()
    return value or None


def target_from_fields(fields: Mapping[str, Any]) -> Target:
    """The target a CSV row (as a dict) or a JSON object describes.

    Raises:
        RowError: a required field is missing or the provider is unknown.
        ValidationError: the token, topic, condition or subscription is malformed.
    """
    provider = (_text(fields, "provider") or "").lower()
    if not provider and "endpoint" in fields:
        provider = "webpush"
    if provider == "apns":
        token = _text(fields, "token")
        if token is None:
            raise RowError("an apns row needs a token")
        return ApnsDevice(token)
    if provider == "fcm":
        given = {name: _text(fields, name) for name in ("token", "topic", "condition")}
        present = [name for name, value in given.items() if value is not None]
        if len(present) != 1:
            raise RowError("an fcm row needs exactly one of token, topic or condition")
        if given["token"] is not None:
            return FcmDevice(given["token"])
        if given["topic"] is not None:
            return FcmTopic(given["topic"])
        assert given["condition"] is not None
        return FcmCondition(given["condition"])
    if provider == "webpush":
        if isinstance(fields.get("keys"), Mapping):
            return WebPushSubscription.from_dict(fields)
        parts = {name: _text(fields, name) for name in ("endpoint", "p256dh", "auth")}
        missing = [name for name, value in parts.items() if value is None]
        if missing:
            raise RowError(f"a webpush row needs endpoint, p256dh and auth (missing: {', '.join(missing)})")
        return WebPushSubscription(parts["endpoint"] or "", parts["p256dh"] or "", parts["auth"] or "")
    if not provider:
        raise RowError("no provider (expected apns, fcm or webpush)")
    raise RowError(f"unknown provider {provider!r} (expected apns, fcm or webpush)")


def _row(fields: Mapping[str, Any], line: int, raw: Raw) -> Row | BadRow:
    try:
        return Row(target_from_fields(fields), line, raw)
    except ValidationError as exc:
        return BadRow(line, str(exc), raw, bad_token=True)
    except RowError as exc:
        return BadRow(line, str(exc), raw, bad_token=False)


def flag_targets(
    apns: Sequence[str] = (),
    fcm: Sequence[str] = (),
    fcm_topic: Sequence[str] = (),
    fcm_condition: Sequence[str] = (),
    webpush: Sequence[str] = (),
) -> list[Row]:
    """The targets given as flags; a malformed one is a usage error (exit 2) before anything is sent."""
    rows: list[Row] = []
    kinds: tuple[tuple[str, Sequence[str], Callable[[str], Target]], ...] = (
        ("--apns", apns, ApnsDevice),
        ("--fcm", fcm, FcmDevice),
        ("--fcm-topic", fcm_topic, FcmTopic),
        ("--fcm-condition", fcm_condition, FcmCondition),
    )
    for flag, values, kind in kinds:
        for value in values:
            try:
                rows.append(Row(kind(value), len(rows) + 1, value))
            except ValidationError as exc:
                fail(f"{flag}: {exc}")
    for value in webpush:
        text = _read_at_file("--webpush", value)
        try:
            subscription = WebPushSubscription.from_dict(text)
        except ValidationError as exc:
            fail(f"--webpush: {exc}")
        rows.append(
            Row(subscription, len(rows) + 1, json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False))
        )
    return rows


def _read_at_file(flag: str, value: str) -> str:
    """``value``, or the contents of the file it names when it starts with ``@``."""
    if not value.startswith("@"):
        return value
    try:
        return Path(value[1:]).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{flag}: cannot read {value[1:]}: {exc.strerror or exc}")


class TargetFile:
    """A targets file (or standard input) read lazily: iterate it for ``Row``/``BadRow`` items.

    ``header`` is the CSV header as written (``None`` for JSON lines). ``fraction()`` is the share of
    the file read so far (``None`` for a pipe), for the progress bar.
    """

    def __init__(self, name: str, fmt: Literal["csv", "jsonl"] | None = None) -> None:
        self.name = name
        self._handle: IO[bytes]
        if name == "-":
            self._handle = sys.stdin.buffer
            self._owned = False
        else:
            try:
                self._handle = Path(name).expanduser().open("rb")
            except OSError as exc:
                fail(f"--file: cannot open {name}: {exc.strerror or exc}")
            self._owned = True
        self._size = _regular_size(self._handle)
        self._read = 0
        self.header: list[str] | None = None
        self._columns: list[str] = []
        self._lines = self._text_lines()
        self._csv: Iterator[list[str]] | None = None
        try:
            self.format: Literal["csv", "jsonl"] = fmt or self._guess_format()
            if self.format == "csv":
                self._open_csv()
        except BaseException:
            self.close()
            raise

    def _guess_format(self) -> Literal["csv", "jsonl"]:
        if self.name != "-":
            suffix = Path(self.name).suffix.lower()
            if suffix == ".csv":
                return "csv"
            if suffix in _JSONL_SUFFIXES:
                return "jsonl"
        peek = getattr(self._handle, "peek", None)
        start = peek(64) if peek is not None else b""
        return "jsonl" if start.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"

    def _text_lines(self) -> Iterator[str]:
        first = True
        for chunk in self._handle:
            self._read += len(chunk)
            line = chunk.decode("utf-8", "replace")
            if first:
                line = line.removeprefix("\ufeff")  # a UTF-8 byte order mark, as spreadsheet exports write
                first = False
            yield line

    def _open_csv(self) -> None:
        reader = csv.reader(self._lines)
        self._reader = reader
        try:
            header = next(reader, None)
        except csv.Error as exc:
            fail(f"{self.name}: line 1: {exc}")
        if header is None:
            self.header = []
            self._csv = iter(())
            return
        self.header = header
        self._columns = [cell.strip().lower() for cell in header]
        if "provider" not in self._columns and "endpoint" not in self._columns:
            fail(
                f"{self.name}: the first line must be a header naming a 'provider' column "
                f"(with token, topic or condition) or Web Push 'endpoint', 'p256dh' and 'auth' columns; "
                f"got: {','.join(header)[:120]}"
            )
        self._csv = reader

    def fraction(self) -> float | None:
        """How much of the file has been read (0..1), or ``None`` when the size is unknown."""
        if not self._size:
            return None
        return min(1.0, self._read / self._size)

    def __iter__(self) -> Iterator[Row | BadRow]:
        if self.format == "csv":
            return self._csv_rows()
        return self._jsonl_rows()

    def _csv_rows(self) -> Iterator[Row | BadRow]:
        assert self._csv is not None
        columns = self._columns
        while True:
            try:
                cells = next(self._csv)
            except StopIteration:
                return
            except csv.Error as exc:
                line = self._reader.line_num
                yield BadRow(line, f"not valid CSV: {exc}", [], bad_token=False)
                continue
            if not any(cell.strip() for cell in cells):
                continue
            fields = {name: cells[i] for i, name in enumerate(columns) if i < len(cells) and name}
            yield _row(fields, self._reader.line_num, cells)

    def _jsonl_rows(self) -> Iterator[Row | BadRow]:
        for number, line in enumerate(self._lines, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                document = json.loads(text)
            except ValueError as exc:
                yield BadRow(number, f"not valid JSON: {exc}", text, bad_token=False)
                continue
            if not isinstance(document, dict):
                yield BadRow(number, f"must be a JSON object, got {type(document).__name__}", text, bad_token=False)
                continue
            yield _row(document, number, text)

    def close(self) -> None:
        """Close the file (not standard input)."""
        if self._owned:
            self._handle.close()

    def __enter__(self) -> TargetFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _regular_size(handle: IO[bytes]) -> int:
    try:
        info = os.fstat(handle.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


class InvalidTokenWriter:
    """Writes dead or malformed targets to ``--invalid-out`` as they are found, in the input's format.

    CSV input gives CSV output with the input's header and each row's original cells (extra columns
    included); JSON lines and flags give one line per target as it was read. The file is line-buffered,
    so what was found survives an interrupted run.
    """

    def __init__(self, path: str, fmt: Format, header: Sequence[str] | None) -> None:
        self.path = path
        self.count = 0
        try:
            self._handle = Path(path).expanduser().open("w", encoding="utf-8", newline="", buffering=1)
        except OSError as exc:
            fail(f"--invalid-out: cannot write {path}: {exc.strerror or exc}")
        self._csv = csv.writer(self._handle, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None and header:
            self._csv.writerow(header)

    def write(self, raw: Raw) -> None:
        """Append one target as it appeared in the input."""
        if self._csv is not None and isinstance(raw, list):
            self._csv.writerow(raw)
        else:
            self._handle.write(f"{raw}\n")
        self.count += 1

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The target flags shared by ``send`` and ``render``: repeatable per kind, or ``--file``."""
    group = parser.add_argument_group("targets (flags, or --file; not both)")
    group.add_argument("--apns", action="append", default=[], metavar="TOKEN", help="an APNs device token (hex)")
    group.add_argument("--fcm", action="append", default=[], metavar="TOKEN", help="an FCM registration token")
    group.add_argument("--fcm-topic", action="append", default=[], metavar="NAME", help="an FCM topic")
    group.add_argument(
        "--fcm-condition", action="append", default=[], metavar="EXPR", help="an FCM condition over topics"
    )
    group.add_argument(
        "--webpush",
        action="append",
        default=[],
        metavar="JSON|@FILE",
        help="a browser's PushSubscription JSON, or @file holding it",
    )
    group.add_argument(
        "--file",
        metavar="PATH",
        help=f"a CSV or JSON-lines file of targets, streamed ('-' reads standard input); see {docs_url('cli')}",
    )
    group.add_argument(
        "--format",
        dest="file_format",
        choices=("csv", "jsonl"),
        help="the --file format (default: by extension, else by its first character)",
    )


def select_targets(
    args: argparse.Namespace, stack: ExitStack, sandbox: Sandbox | None
) -> tuple[Iterable[Row | BadRow], TargetFile | None, Format]:
    """The rows to send to: flags, a file, or (``--sandbox`` alone) one new sandbox device per provider."""
    flags = flag_targets(args.apns, args.fcm, args.fcm_topic, args.fcm_condition, args.webpush)
    if args.file is not None:
        if flags:
            fail("give targets as flags or with --file, not both")
        source = stack.enter_context(TargetFile(args.file, args.file_format))
        return source, source, source.format
    if flags:
        return flags, None, "flags"
    if sandbox is not None:
        devices = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
        return [Row(device, i, device.key) for i, device in enumerate(devices, 1)], None, "flags"
    fail("no targets: give --apns, --fcm, --fcm-topic, --fcm-condition, --webpush or --file (or try --sandbox)")
