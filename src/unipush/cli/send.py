"""``unipush send``: one notification to targets from flags or a streamed file, with progress and a summary.

Targets from a file are pulled one row at a time by ``PushClient.stream``, which keeps at most
``--concurrency`` sends in flight; the command keeps only those rows (to write a dead one to
``--invalid-out`` in its original form) and a handful of counters, so memory stays flat however long
the file is. With ``--processes N``, a ``ProcessPool`` of N workers sends instead, each with its own
client built from the same settings; this process still reads the file, and counts, shows and writes
the results, so the output is the same.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from unipush import (
    ConfigurationError,
    CredentialStore,
    FileStore,
    Notification,
    ProcessPool,
    PushClient,
    ResultSummary,
    SendResult,
    Target,
    UnipushError,
    format_summary,
)
from unipush.cli._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, fail
from unipush.cli._config import Settings, add_settings_arguments, build_client, build_providers
from unipush.cli._notification import add_notification_arguments, cli_error_text, notification_from_args
from unipush.cli._progress import Progress, Tally, failure_label, format_elapsed, reason_text
from unipush.cli._session import Session
from unipush.cli._targets import BadRow, InvalidTokenWriter, Row, add_target_arguments
from unipush.cli.render import request_json

__all__ = ["add_send_parser", "run_send"]


def _file_store(directory: Path | None = None) -> FileStore | None:
    """The user's ``FileStore`` (or one in ``directory``); ``None`` without POSIX file locks (Windows)."""
    try:
        return FileStore(directory)
    except ConfigurationError:
        return None


_MAX_ROW_WARNINGS = 20  # skipped rows reported one by one; after that, only counted
_SANDBOX_INBOX_KEEP = 1000  # with --sandbox, deliveries are dropped beyond this so memory stays flat


def add_send_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``send`` on the subcommand parsers."""
    parser = commands.add_parser(
        "send",
        parents=parents,
        help="send one notification to targets from flags or a CSV / JSON-lines file",
        description="Send one notification to targets given as flags or streamed from a file. "
        "Exit codes: 0 all sent, 1 some failed or rows were skipped, 2 bad usage or input, 130 interrupted.",
    )
    add_notification_arguments(parser)
    add_target_arguments(parser)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--invalid-out",
        metavar="FILE",
        help="write dead or malformed targets here as they are found, in the input's format",
    )
    output.add_argument(
        "--json",
        action="store_true",
        help='print a JSON line per result, then a {"summary": ...} line',
    )
    output.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the progress line on stderr (default: only when stderr is a terminal)",
    )
    output.add_argument(
        "--dry-run",
        action="store_true",
        help="render every request (printed as JSON lines, credentials redacted) but send nothing",
    )
    sending = parser.add_argument_group("sending")
    sending.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="send from N worker processes, each with its own connections and --concurrency (default 1: "
        "this process); use the machine's cores for a large --file",
    )
    add_settings_arguments(parser)
    parser.set_defaults(handler=run_send)


def _has_content(notification: Notification) -> bool:
    return bool(notification.has_alert or notification.data or notification.content_available)


def run_send(
    args: argparse.Namespace, *, stdout: TextIO, stderr: TextIO, environ: Mapping[str, str] | None = None
) -> int:
    """Run ``unipush send``; returns the exit code."""
    notification = notification_from_args(args)
    if not _has_content(notification):
        fail("nothing to send: give --title and/or --body, or --data / --silent for a background push")
    if args.processes < 1:
        fail(f"--processes must be at least 1, got {args.processes}")
    with ExitStack() as stack:
        session = Session.open(args, stack, environ)
        # Runs share the APNs token through a file under the user's cache directory: two runs within 20
        # minutes with their own tokens would get TooManyProviderTokenUpdates. A --sandbox key lives for
        # one run only, so its token stays in memory, or, for the --processes workers, which must share
        # it too, in the sandbox's own directory. A dry run sends nothing.
        store: CredentialStore | None = None
        if args.dry_run:
            pass
        elif session.sandbox is None:
            store = _file_store()
        elif args.processes > 1:
            store = _file_store(session.sandbox.directory / "credentials")
        client = session.client(credential_store=store)
        if session.source is None:
            # Flag targets are checked before anything is sent; a file's rows as they come.
            for row in session.rows:
                missing = session.unconfigured(row) if isinstance(row, Row) else None
                if missing is not None:
                    raise missing
        # A file gets the progress line (on a terminal, unless told); flag targets have their own lines.
        show_progress: bool | None = args.progress
        if show_progress is None and session.source is None:
            show_progress = False
        writer = None
        if args.invalid_out is not None:
            source = session.source
            writer = InvalidTokenWriter(args.invalid_out, session.format, source.header if source is not None else None)
            stack.callback(writer.close)
        run = _SendRun(
            notification=notification,
            session=session,
            writer=writer,
            stdout=stdout,
            stderr=stderr,
            as_json=args.json,
            progress=Progress(stderr, enabled=show_progress),
        )
        if args.processes > 1 and not args.dry_run:
            run.pool = stack.enter_context(
                ProcessPool(functools.partial(client_from_settings, session.settings, store), processes=args.processes)
            )
        return run.run(client, session.rows, dry_run=args.dry_run)


def client_from_settings(settings: Settings, store: CredentialStore | None) -> PushClient:
    """The client ``send`` builds from its settings; each ``--processes`` worker calls it to build its own."""
    return build_client(settings, build_providers(settings), credential_store=store)


class _SendRun:
    """The state of one ``send``: counters, the progress line, the invalid-token file and the output."""

    def __init__(
        self,
        *,
        notification: Notification,
        session: Session,
        writer: InvalidTokenWriter | None,
        stdout: TextIO,
        stderr: TextIO,
        as_json: bool,
        progress: Progress,
    ) -> None:
        self.notification = notification
        self.session = session
        self.source = session.source
        self.sandbox = session.sandbox
        self.writer = writer
        self.stdout = stdout
        self.stderr = stderr
        self.as_json = as_json
        self.per_result = session.source is None  # flag targets: a line per result
        self.progress = progress
        self.tally = Tally()
        self.breakdown = ResultSummary()  # by provider, outcome and reason: the table after the summary
        self.stop: CliError | None = None
        self.warned = 0
        self.started = time.perf_counter()
        self.pool: ProcessPool | None = None  # --processes: the workers send instead of ``client``

    # -- the loop --------------------------------------------------------------------------------

    def run(self, client: PushClient, rows: Iterable[Row | BadRow], *, dry_run: bool) -> int:
        interrupted = False
        try:
            if dry_run:
                self._render_all(client, rows)
            else:
                self._send_all(client, rows)
        except KeyboardInterrupt:
            interrupted = True
        self.progress.finish(self._shown(), self.source.fraction() if self.source is not None else None)
        self._summary(dry_run=dry_run, interrupted=interrupted)
        if self.per_result and self.sandbox is not None and not dry_run and not self.as_json:
            self._show_deliveries()
        if interrupted:
            self.stderr.write("unipush: interrupted\n")
            return EXIT_INTERRUPTED
        if self.stop is not None:
            raise self.stop
        failed = self.tally.failed or self.tally.skipped
        return EXIT_FAILED if failed else EXIT_OK

    def _accepted(self, rows: Iterable[Row | BadRow]) -> Iterator[Row]:
        """The rows to send: bad rows are reported and counted; an unconfigured provider stops the input."""
        for item in rows:
            if isinstance(item, BadRow):
                self._bad_row(item)
                continue
            missing = self.session.unconfigured(item)
            if missing is not None:
                self.stop = missing
                return
            yield item

    def _answers(self, client: PushClient, rows: Iterable[Row | BadRow]) -> Iterator[tuple[Row, SendResult]]:
        """Each accepted row with its result, as results arrive: from ``client``, or from the worker processes."""
        notification = self.notification
        # Both streams give each result the very target object of its pair, so the row is found by identity
        # (the row keeps its target alive while it is in flight, so no two rows in flight share an id).
        inflight: dict[int, Row] = {}

        def pairs() -> Iterator[tuple[Notification, Target]]:
            for row in self._accepted(rows):
                inflight[id(row.target)] = row
                yield notification, row.target

        sender: PushClient | ProcessPool = client if self.pool is None else self.pool
        for result in sender.stream(pairs()):
            yield inflight.pop(id(result.target)), result

    def _send_all(self, client: PushClient, rows: Iterable[Row | BadRow]) -> None:
        ordered: list[tuple[int, Row, SendResult]] = []
        for row, result in self._answers(client, rows):
            if self.per_result:
                # Flag targets are few: their lines come out in the order they were given.
                ordered.append((row.line, row, result))
            else:
                self._result(row, result)
        for _, row, result in sorted(ordered, key=lambda item: item[0]):
            self._result(row, result)

    def _render_all(self, client: PushClient, rows: Iterable[Row | BadRow]) -> None:
        for row in self._accepted(rows):
            try:
                prepared = client.render(self.notification, row.target)
            except UnipushError as exc:
                self.tally.failed += 1
                self.tally.note(f"{type(exc).__name__} ({cli_error_text(exc)})")
                self._warn(f"{self.session.where(row)}: {cli_error_text(exc)}")
            else:
                self.tally.sent += 1
                self.stdout.write(json.dumps(request_json(prepared, reveal=False), ensure_ascii=False) + "\n")
            self._tick()

    # -- per row ---------------------------------------------------------------------------------

    def _result(self, row: Row, result: SendResult) -> None:
        self.tally.add(result)
        self.breakdown.add(result)
        if result.token_invalid and self.writer is not None:
            self.writer.write(row.raw)
        if self.as_json:
            self.stdout.write(json.dumps(_result_json(result), ensure_ascii=False) + "\n")
        elif self.per_result:
            self.stdout.write(_result_line(result) + "\n")
        if self.sandbox is not None and not self.per_result and self.tally.done % _SANDBOX_INBOX_KEEP == 0:
            self.sandbox.inbox.clear()
        self._tick()

    def _bad_row(self, row: BadRow) -> None:
        self.tally.skipped += 1
        if row.bad_token:
            self.tally.invalid += 1
            if self.writer is not None:
                self.writer.write(row.raw)
        self.tally.note("skipped row")
        self._warn(f"{self.session.where(row)}: {row.message} (skipped)")
        self._tick()

    def _warn(self, message: str) -> None:
        self.warned += 1
        if self.warned > _MAX_ROW_WARNINGS:
            if self.warned == _MAX_ROW_WARNINGS + 1:
                self._stderr_line("unipush: warning: more problems follow; only their count is reported")
            return
        self._stderr_line(f"unipush: warning: {message}")

    def _stderr_line(self, text: str) -> None:
        self.progress.clear()
        self.stderr.write(text + "\n")

    def _shown(self) -> Tally:
        """The counts the progress line shows: skipped rows count as failed there."""
        tally = self.tally
        return Tally(sent=tally.sent, failed=tally.failed + tally.skipped, invalid=tally.invalid)

    def _tick(self) -> None:
        if self.progress.enabled:
            self.progress.update(self._shown(), self.source.fraction() if self.source is not None else None)

    # -- the end ---------------------------------------------------------------------------------

    def _summary(self, *, dry_run: bool, interrupted: bool) -> None:
        """Print the end-of-run summary: the one place it is printed, for every way a run ends.

        ``--json`` gets one ``{"summary": ...}`` line; otherwise the counts, the failure reasons and the
        ``--invalid-out`` file, on stdout (stderr for a dry run, whose stdout is JSON lines).
        """
        tally = self.tally
        elapsed = time.perf_counter() - self.started
        if self.as_json:
            summary = {
                "targets": tally.done,
                "sent": tally.sent,
                "failed": tally.failed,
                "invalid_tokens": tally.invalid,
                "skipped_rows": tally.skipped,
                "reasons": dict(tally.reasons.most_common()),
                "seconds": round(elapsed, 3),
                "dry_run": dry_run,
                "interrupted": interrupted,
                "invalid_out": self.writer.path if self.writer is not None else None,
            }
            self.stdout.write(json.dumps({"summary": summary}) + "\n")
            return
        rate = tally.done / elapsed if elapsed > 0 else 0.0
        verb = "rendered" if dry_run else "sent"
        took = f"{elapsed:.2f}s" if elapsed < 60 else format_elapsed(elapsed)
        head = f"{tally.done:,} targets in {took} ({rate:,.0f}/s): {tally.sent:,} {verb}"
        head += f", {tally.failed:,} failed"
        if tally.skipped:
            head += f", {tally.skipped:,} rows skipped"
        head += f"; invalid tokens: {tally.invalid:,}"
        if dry_run:
            head += " (dry run: nothing was sent)"
        if interrupted:
            head += " (interrupted)"
        lines = [head]
        if tally.reasons:
            reasons = ", ".join(f"{label} ×{count:,}" for label, count in tally.reasons.most_common())
            lines.append(f"  failures: {reasons}")
        if self.writer is not None:
            lines.append(f"  invalid tokens written to {self.writer.path} ({self.writer.count:,})")
        if len(self.breakdown):
            lines.append(format_summary(self.breakdown.counts))
        # A dry run's stdout is JSON lines, which the summary must not break into.
        stream = self.stderr if dry_run else self.stdout
        stream.write("\n".join(lines) + "\n")

    def _show_deliveries(self) -> None:
        assert self.sandbox is not None
        for delivery in self.sandbox.inbox.all():
            payload = json.dumps(delivery.payload, ensure_ascii=False, sort_keys=True)
            self.stdout.write(f"[{delivery.provider}] {delivery.target[:40]} received {payload}\n")


def _result_line(result: SendResult) -> str:
    status = result.status_code if result.status_code is not None else "-"
    if result.ok:
        what = f"sent (id {result.message_id})" if result.message_id else "sent"
    else:
        what = f"failed: {failure_label(result)}"
        if result.token_invalid:
            what += " → token invalid"
    return f"{result.provider:<8} {result.target.short():<28} {status!s:>4}  {what}"


def _result_json(result: SendResult) -> dict[str, Any]:
    reason = result.reason
    return {
        "provider": result.provider,
        "target": result.target.key,
        "ok": result.ok,
        "status": result.status_code,
        "message_id": result.message_id,
        "reason": None if reason is None else reason_text(reason),
        "token_invalid": result.token_invalid,
        "invalidated_at": result.invalidated_at.isoformat() if result.invalidated_at is not None else None,
        "attempts": result.attempts,
        "error": None if result.error is None else cli_error_text(result.error),
    }
