"""``PushTasks``: unipush's tasks on a Celery app, one long-lived client per worker process.

The client: Celery's prefork pool forks its children from the main worker process, and a client's
connections, loop thread and cached tokens must not cross a fork (an HTTP/2 connection shared by two
processes interleaves their frames). So the client is built *in each child*, on
``worker_process_init``, from the factory the application gives, and closed on
``worker_process_shutdown``; every task the child runs reuses it: one TLS connection per provider and
one APNs token (shared further, across processes and machines, by the client's ``credential_store``).
Pools without child processes (``solo``, ``threads``) build it on first use and close it on
``worker_shutdown``. The main process never builds one.

Delivery semantics (docs/scale.md, "When a worker dies"): chunk tasks are ``acks_late`` with
``reject_on_worker_lost``, so a chunk whose process dies is put back on the queue and run again; the
campaign ledger (``_ledger.py``) records each target's answer once, and the rerun skips the targets
already recorded. A target is sent twice only if its request was in flight, or answered but not yet
recorded (at most ``record_every`` results, flushed at least every 50 ms), when the process died.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery, signals
from kombu.exceptions import OperationalError

import unipush
from unipush._errors import ConfigurationError, UnipushError, ValidationError
from unipush._errors import TimeoutError as UnipushTimeoutError
from unipush._model import Notification
from unipush._results import SendResult
from unipush._sync import PushClient
from unipush._targets import Target
from unipush.celery._ledger import COUNT_SEPARATOR, Ledger, fingerprint
from unipush.celery._limits import FleetLimiter, FleetRetryPolicy, RateLimit
from unipush.celery._report import CampaignReport, OutcomeCount, dead_token_dict, outcome_of, reason_text

__all__ = ["DEFAULT_CHUNK_SIZE", "Campaign", "PushTasks", "TargetSource"]

logger = logging.getLogger("unipush.celery")

DEFAULT_CHUNK_SIZE = 1000
# Results are written to the ledger in groups: at most this many, and at least every _RECORD_INTERVAL s.
DEFAULT_RECORD_EVERY = 100
_RECORD_INTERVAL = 0.05

TargetSource = Iterable[Target] | Callable[[], Iterable[Iterable[Target]]]
"""Targets for a campaign: an iterable or generator of targets, or a callable returning pages of them."""

DeadTokenHook = str | Callable[[list[SendResult]], object]
ReportHook = str | Callable[[CampaignReport], object]

# Celery task options for every unipush task: acknowledge after the work, and put the message back
# when the process running it dies (SIGKILL, OOM), so no chunk is lost with its worker.
_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "serializer": "json",
    # Redis or the broker unreachable for a moment: retry the task (the ledger makes a rerun harmless).
    "autoretry_for": (redis.ConnectionError, redis.TimeoutError, OperationalError),
    "retry_backoff": True,
    "retry_kwargs": {"max_retries": 10},
}


@dataclass
class _Process:
    """What one process holds: its client (workers only), Redis, the ledger and the limiter."""

    pid: int
    redis: redis.Redis
    ledger: Ledger
    limiter: FleetLimiter
    client: PushClient | None = None


class PushTasks:
    """unipush's tasks registered on a Celery ``app``, with a per-process client and campaigns.

    Args:
        app: the Celery application (JSON serializer: notifications and targets travel as plain JSON).
        client_factory: builds this worker process's ``PushClient``; called once per process, after the
            fork, never in the main worker process. Give it ``credential_store=unipush.RedisStore(url)``
            so the whole fleet shares one APNs token and one FCM OAuth token.
        redis_url: the Redis holding campaign ledgers and fleet rate limits (may be the broker).
        on_invalid_tokens: a task name (it receives a list of ``dead_token_dict`` JSON objects) or a
            callable (it receives the list of dead-token ``SendResult``s, in the worker); called once per
            group of dead tokens, at least once per dead token.
        on_report: a task name (it receives ``CampaignReport.to_dict()``) or a callable (it receives
            the ``CampaignReport``), once a campaign is done.
        rate_limits: per provider name, a ``RateLimit`` shared by every worker of the fleet.
        chunk_size: targets per chunk task in campaigns.
        queue: the queue unipush's tasks are sent to (default: the app's default queue).
        name: the prefix of the task names (``unipush.send_batch``, ``unipush.campaign_chunk``,
            ``unipush.campaign_report``).
        key_prefix: the prefix of every Redis key unipush writes.
        record_every: results per ledger write (the at-least-once window on a crash grows with it).
        ttl: seconds a campaign's ledger and report are kept in Redis.
    """

    def __init__(
        self,
        app: Celery,
        client_factory: Callable[[], PushClient],
        *,
        redis_url: str,
        on_invalid_tokens: DeadTokenHook | None = None,
        on_report: ReportHook | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        queue: str | None = None,
        name: str = "unipush",
        key_prefix: str = "unipush",
        record_every: int = DEFAULT_RECORD_EVERY,
        ttl: int = 7 * 24 * 3600,
    ) -> None:
        if not callable(client_factory):
            raise ConfigurationError("client_factory must be a callable returning a PushClient")
        for label, hook in (("on_invalid_tokens", on_invalid_tokens), ("on_report", on_report)):
            if hook is not None and not (isinstance(hook, str) or callable(hook)):
                raise ConfigurationError(f"{label} must be a task name or a callable")
        _check_positive("chunk_size", chunk_size)
        _check_positive("record_every", record_every)
        _check_positive("ttl", ttl)
        self.app = app
        self.chunk_size = chunk_size
        self.queue = queue
        self._factory = client_factory
        self._redis_url = redis_url
        self._on_invalid_tokens = on_invalid_tokens
        self._on_report = on_report
        self._rate_limits = dict(rate_limits or {})
        FleetLimiter.check(self._rate_limits)
        self._key_prefix = key_prefix
        self._record_every = record_every
        self._ttl = ttl
        self._lock = threading.Lock()
        self._process: _Process | None = None
        # Celery reads a task's signature from a plain function (a bound method would lose an argument).

        def send_batch(notification: dict[str, Any], targets: list[dict[str, Any]]) -> dict[str, Any]:
            return self._send_batch(notification, targets)

        def campaign_chunk(
            campaign_id: str, index: int, notification: dict[str, Any], targets: list[dict[str, Any]]
        ) -> dict[str, int]:
            return self._campaign_chunk(campaign_id, index, notification, targets)

        def campaign_report(campaign_id: str) -> dict[str, Any]:
            return self._campaign_report(campaign_id)

        self.send_batch = app.task(name=f"{name}.send_batch", **_TASK_OPTIONS)(send_batch)
        """Task ``send_batch(notification_dict, [target_dict, ...])``: one notification to a batch."""
        self.campaign_chunk = app.task(name=f"{name}.campaign_chunk", **_TASK_OPTIONS)(campaign_chunk)
        """Task ``campaign_chunk(campaign_id, index, notification_dict, [target_dict, ...])``."""
        self.campaign_report = app.task(name=f"{name}.campaign_report", **_TASK_OPTIONS)(campaign_report)
        """Task ``campaign_report(campaign_id)``: builds, stores and hands over the report."""
        # weak=False: the receivers are bound methods of an object the application keeps anyway.
        signals.worker_process_init.connect(self._on_process_init, weak=False)
        signals.worker_process_shutdown.connect(self._on_shutdown, weak=False)
        signals.worker_shutdown.connect(self._on_shutdown, weak=False)

    # -- the per-process client -------------------------------------------------------------------

    def _state(self) -> _Process:
        process = self._process
        if process is not None and process.pid == os.getpid():
            return process
        with self._lock:
            process = self._process
            if process is None or process.pid != os.getpid():
                # First use in this process, or first use after a fork: nothing of the parent's is reused
                # (redis-py would reset a forked pool itself; a fresh one says so plainly).
                connection = redis.Redis.from_url(self._redis_url)
                process = _Process(
                    pid=os.getpid(),
                    redis=connection,
                    ledger=Ledger(connection, prefix=f"{self._key_prefix}:campaign", ttl=self._ttl),
                    limiter=FleetLimiter(connection, self._rate_limits, prefix=f"{self._key_prefix}:limit"),
                )
                self._process = process
            return process

    def client(self) -> PushClient:
        """This process's long-lived ``PushClient`` (built by the factory on first need).

        Use it in your own tasks too: it holds the worker's connections and tokens.
        """
        process = self._state()
        if process.client is None:
            with self._lock:
                if process.client is None:
                    process.client = self._build_client(process.limiter)
        return process.client

    def _build_client(self, limiter: FleetLimiter) -> PushClient:
        client = self._factory()
        if not isinstance(client, PushClient):
            raise ConfigurationError(f"client_factory must return a unipush.PushClient, got {type(client).__name__}")
        # A 429 with Retry-After seen by this client pauses the provider for the fleet: the client's own
        # policy is kept and decides; the wrapper only reports. Set before the client's first send,
        # when its sending engine (which takes the policy) does not exist yet.
        client._retry = FleetRetryPolicy.wrap(client._retry, limiter)
        logger.debug("unipush client created in process %d", os.getpid())
        return client

    def _on_process_init(self, **_: object) -> None:
        # In the prefork child, right after the fork: build the client here, before the first task.
        try:
            self.client()
        except Exception:
            # A broken factory must not kill the pool process at birth (Celery would respawn it in a
            # loop): the first task builds it again and fails with the error, where it is seen.
            logger.exception("client_factory failed in worker process %d", os.getpid())

    def _on_shutdown(self, **_: object) -> None:
        process = self._process
        if process is None or process.pid != os.getpid():
            return
        self._process = None
        if process.client is not None:
            process.client.close()
        process.redis.close()

    # -- producing --------------------------------------------------------------------------------

    def _route(self) -> dict[str, Any]:
        return {"serializer": "json", **({"queue": self.queue} if self.queue else {})}

    def send(self, notification: Notification, targets: Iterable[Target]) -> Any:
        """Queue ``send_batch`` for ``notification`` and ``targets``; returns Celery's ``AsyncResult``."""
        _check_notification(notification)
        wire = [_target_dict(t) for t in targets]
        return self.send_batch.apply_async(args=[notification.to_dict(), wire], **self._route())

    def campaign(
        self,
        notification: Notification,
        targets: TargetSource,
        *,
        chunk_size: int | None = None,
        campaign_id: str | None = None,
    ) -> Campaign:
        """Send ``notification`` to every target of ``targets`` in chunk tasks; returns the ``Campaign``.

        ``targets`` is read lazily, one chunk at a time (a generator over a database cursor is fine):
        an iterable of targets, or a callable returning an iterable of pages (lists) of targets. When
        the last chunk is done, a worker builds the ``CampaignReport`` (``Campaign.wait()``) and hands it
        to ``on_report``. If ``targets`` raises, the chunks already dispatched still run and make a
        report; the exception propagates.
        """
        _check_notification(notification)
        size = self.chunk_size if chunk_size is None else chunk_size
        _check_positive("chunk_size", size)
        campaign_id = uuid.uuid4().hex if campaign_id is None else campaign_id
        if not _valid_id(campaign_id):
            raise ValidationError("campaign_id", "must be a non-empty string of at most 200 characters")
        ledger = self._state().ledger
        if not ledger.start(campaign_id):
            raise ConfigurationError(f"campaign {campaign_id!r} already exists: give each campaign its own id")
        wire = notification.to_dict()
        chunks = dispatched = 0
        try:
            for chunk in _chunked(_iterate(targets), size):
                self.campaign_chunk.apply_async(args=[campaign_id, chunks, wire, chunk], **self._route())
                chunks += 1
                dispatched += len(chunk)
        finally:
            if ledger.seal(campaign_id, chunks=chunks, targets=dispatched):
                self.campaign_report.apply_async(args=[campaign_id], **self._route())
        return Campaign(self, campaign_id, chunks=chunks, targets=dispatched)

    def get_campaign(self, campaign_id: str) -> Campaign:
        """A handle on a campaign started earlier (its report, its progress)."""
        progress = self._state().ledger.progress(campaign_id)
        return Campaign(self, campaign_id, chunks=progress["chunks"], targets=None)

    # -- the tasks --------------------------------------------------------------------------------

    def _send_batch(self, notification: dict[str, Any], targets: list[dict[str, Any]]) -> dict[str, Any]:
        n = Notification.from_dict(notification)
        decoded = [_decode(d) for d in targets]
        live = [t for t in decoded if isinstance(t, Target)]
        tally: dict[str, int] = {}
        for item in decoded:
            if not isinstance(item, Target):
                tally[_count_key(*item)] = tally.get(_count_key(*item), 0) + 1
        dead: list[SendResult] = []
        for result in self._stream(n, live):
            key = _count_key(result.provider, outcome_of(result), reason_text(result))
            tally[key] = tally.get(key, 0) + 1
            if result.token_invalid:
                dead.append(result)
                if len(dead) >= self._record_every:
                    self._dead_tokens(dead, None)
                    dead = []
        self._dead_tokens(dead, None)
        return {"targets": len(targets), "counts": _counts_json(tally)}

    def _campaign_chunk(
        self, campaign_id: str, index: int, notification: dict[str, Any], targets: list[dict[str, Any]]
    ) -> dict[str, int]:
        process = self._state()
        ledger = process.ledger
        pending: list[tuple[bytes, str, str | None]] = []
        try:
            n = Notification.from_dict(notification)
        except UnipushError as exc:
            # A producer on another version wrote a notification this worker cannot read: every target
            # gets a failed result, so the campaign still completes and the report says why.
            logger.error("campaign %s chunk %d: notification refused: %s", campaign_id, index, exc)
            for d in targets:
                item = _decode(d)
                provider = item.provider if isinstance(item, Target) else item[0]
                key = item.key if isinstance(item, Target) else repr(d)
                pending.append((fingerprint(provider, key), _count_key(provider, "failed", type(exc).__name__), None))
            ledger.record(campaign_id, pending)
            if ledger.chunk_finished(campaign_id, index):
                self.campaign_report.apply_async(args=[campaign_id], **self._route())
            return {"sent": 0, "skipped": 0}
        todo: list[Target] = []
        seen: set[bytes] = set()
        decoded = [_decode(d) for d in targets]
        prints = [
            fingerprint(item.provider, item.key) if isinstance(item, Target) else fingerprint(item[0], repr(d))
            for item, d in zip(decoded, targets, strict=True)
        ]
        answered = ledger.answered(campaign_id, prints)
        for item, fp, done in zip(decoded, prints, answered, strict=True):
            if done or fp in seen:
                continue
            seen.add(fp)
            if isinstance(item, Target):
                todo.append(item)
            else:
                pending.append((fp, _count_key(*item), None))
        skipped = len(targets) - len(todo) - len(pending)
        dead: list[SendResult] = []
        first_pending = time.monotonic()

        def flush() -> None:
            nonlocal pending, dead
            # Dead tokens go to the application before they are recorded: if this process dies in
            # between, the rerun sends to them again and hands them over again (at least once).
            self._dead_tokens(dead, campaign_id)
            ledger.record(campaign_id, pending)
            pending, dead = [], []

        for result in self._stream(n, todo):
            outcome = outcome_of(result)
            dead_json = None
            if result.token_invalid:
                dead.append(result)
                dead_json = _json(dead_token_dict(result, campaign_id))
            if not pending:
                first_pending = time.monotonic()
            pending.append(
                (
                    fingerprint(result.provider, result.target.key),
                    _count_key(result.provider, outcome, reason_text(result)),
                    dead_json,
                )
            )
            if len(pending) >= self._record_every or time.monotonic() - first_pending >= _RECORD_INTERVAL:
                flush()
        flush()
        if ledger.chunk_finished(campaign_id, index):
            self.campaign_report.apply_async(args=[campaign_id], **self._route())
        return {"sent": len(todo), "skipped": skipped}

    def _campaign_report(self, campaign_id: str) -> dict[str, Any]:
        report = self.build_report(campaign_id)
        self._state().ledger.store_report(campaign_id, report.to_json())
        hook = self._on_report
        if isinstance(hook, str):
            self.app.send_task(hook, args=[report.to_dict()], **self._route())
        elif hook is not None:
            hook(report)
        return {"campaign_id": campaign_id, "recorded": report.recorded}

    def build_report(self, campaign_id: str) -> CampaignReport:
        """The campaign's report from its ledger as it stands (complete once every chunk is done)."""
        meta, counts, dead = self._state().ledger.snapshot(campaign_id)
        rows = []
        for key, count in sorted(counts.items()):
            provider, outcome, reason = key.split(COUNT_SEPARATOR)
            rows.append(OutcomeCount(provider, outcome, reason, count))  # type: ignore[arg-type]
        return CampaignReport(
            campaign_id=campaign_id,
            targets=int(meta.get("targets", 0)),
            chunks=int(meta.get("chunks", 0)),
            counts=tuple(rows),
            dead_tokens=tuple(dead),
        )

    # -- sending ----------------------------------------------------------------------------------

    def _stream(self, notification: Notification, targets: Sequence[Target]) -> Iterator[SendResult]:
        client = self.client()
        limiter = self._state().limiter

        def pairs() -> Iterator[tuple[Notification, Target]]:
            # Pulled by the client one free slot at a time, so the fleet's limits gate each request.
            for target in targets:
                limiter.acquire(target.provider)
                yield notification, target

        return client.stream(pairs())

    def _dead_tokens(self, results: list[SendResult], campaign_id: str | None) -> None:
        hook = self._on_invalid_tokens
        if not results or hook is None:
            return
        if isinstance(hook, str):
            payload = [dead_token_dict(r, campaign_id) for r in results]
            self.app.send_task(hook, args=[payload], **self._route())
            return
        try:
            hook(list(results))
        except Exception:
            logger.exception("on_invalid_tokens failed for %d dead token(s)", len(results))


class Campaign:
    """A campaign in flight: its id, and its report once every chunk is done."""

    def __init__(self, tasks: PushTasks, campaign_id: str, *, chunks: int | None, targets: int | None) -> None:
        self._tasks = tasks
        self.id = campaign_id
        self.chunks = chunks
        """Chunk tasks dispatched (None for a campaign looked up before it was fully dispatched)."""
        self.targets = targets
        """Targets dispatched (None for a campaign looked up with ``get_campaign``)."""

    def __repr__(self) -> str:
        return f"Campaign(id={self.id!r}, chunks={self.chunks}, targets={self.targets})"

    def report(self) -> CampaignReport | None:
        """The report, or None while chunks are still running."""
        text = self._tasks._state().ledger.report(self.id)
        return None if text is None else CampaignReport.from_dict(_loads(text))

    def progress(self) -> dict[str, int | None]:
        """``chunks_finished``, ``chunks`` (None until dispatch ends) and ``recorded`` targets so far."""
        return self._tasks._state().ledger.progress(self.id)

    def wait(self, timeout: float = 600.0) -> CampaignReport:
        """Block until the report exists (up to ``timeout`` seconds) and return it.

        Raises:
            unipush.TimeoutError: the campaign was not done in time (it goes on; wait again).
        """
        deadline = time.monotonic() + timeout
        ledger = self._tasks._state().ledger
        while True:
            report = self.report()
            if report is not None:
                return report
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UnipushTimeoutError(f"campaign {self.id} is not done after {timeout:g} s: {self.progress()}")
            ledger.wait_signal(self.id, 1)


# -- helpers ----------------------------------------------------------------------------------------


def _check_positive(name: str, value: object) -> None:
    if type(value) is not int or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")


def _valid_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def _check_notification(notification: object) -> None:
    if not isinstance(notification, Notification):
        raise ValidationError("notification", f"must be a Notification, got {type(notification).__name__}")


def _target_dict(target: object) -> dict[str, Any]:
    if not isinstance(target, Target):
        raise ValidationError("target", f"must be a unipush Target, got {type(target).__name__}")
    return target.to_dict()


def _iterate(source: TargetSource) -> Iterator[Target]:
    if callable(source):
        for page in source():
            yield from page
    else:
        yield from source


def _chunked(targets: Iterator[Target], size: int) -> Iterator[list[dict[str, Any]]]:
    while True:
        chunk = [_target_dict(t) for t in itertools.islice(targets, size)]
        if not chunk:
            return
        yield chunk


def _decode(data: object) -> Target | tuple[str, str, str]:
    """The target of a JSON object, or ``(provider, "failed", reason)`` when it is not a valid one."""
    try:
        if not isinstance(data, dict):
            raise ValidationError("target", f"must be a JSON object, got {type(data).__name__}")
        target: Target = unipush.target_from_dict(data)
        return target
    except UnipushError as exc:
        logger.warning("campaign target refused: %s", exc)
        provider = data.get("provider") if isinstance(data, dict) else None
        return (provider if isinstance(provider, str) else "unknown", "failed", type(exc).__name__)


def _count_key(provider: str, outcome: str, reason: str) -> str:
    return COUNT_SEPARATOR.join((provider, outcome, reason.replace(COUNT_SEPARATOR, " ")))


def _counts_json(tally: Mapping[str, int]) -> list[dict[str, Any]]:
    rows = []
    for key, count in sorted(tally.items()):
        provider, outcome, reason = key.split(COUNT_SEPARATOR)
        rows.append({"provider": provider, "outcome": outcome, "reason": reason, "count": count})
    return rows


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value
