"""What a client hands back: ``PreparedRequest`` (before sending), ``SendResult`` and ``BatchResult``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal, overload

from unipush._errors import ProviderError, UnipushError
from unipush._targets import Target
from unipush._validate import plain_json

__all__ = [
    "OUTCOMES",
    "BatchResult",
    "Outcome",
    "OutcomeCount",
    "OutcomeName",
    "PreparedRequest",
    "ResultSummary",
    "SendResult",
    "format_summary",
    "outcome_of",
    "reason_text",
]

# Header values that carry a credential; shown as "<redacted>" in reprs and logs.
SECRET_HEADERS = frozenset({"authorization", "crypto-key", "x-goog-api-key"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential values replaced by ``<redacted>``."""
    return {k: ("<redacted>" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


@dataclass(frozen=True, kw_only=True, slots=True)
class PreparedRequest:
    """A fully rendered provider request, ready to send (or to inspect with ``client.render``).

    ``headers`` keys are lower-case. ``body`` is the exact bytes on the wire (encrypted for Web Push);
    ``payload`` is the JSON before encryption. ``credential_pending`` is true when an
    I/O-bound credential (the FCM OAuth token; an APNs or VAPID token that must first be read from a
    ``FileStore``/``RedisStore``) is attached only at send time, so ``render`` shows no
    ``authorization`` header for it. ``repr`` never shows credentials.
    """

    provider: str
    target: Target
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    payload: Mapping[str, Any] | None = None
    credential_pending: bool = False

    def __post_init__(self) -> None:
        headers = self.headers
        try:
            lower = type(headers) is dict and "".join(headers).islower()  # the encoders' case: one C call
        except TypeError:
            lower = False
        # A copy either way: the caller's dict may change later, the request must not.
        fields = dict(headers) if lower else {k.lower(): v for k, v in headers.items()}
        object.__setattr__(self, "headers", MappingProxyType(fields))

    def __repr__(self) -> str:
        # Device tokens and subscription endpoints are shortened: reprs end up in logs.
        url = self.url.replace(self.target.key, self.target.short()) if self.target.key else self.url
        return (
            f"PreparedRequest(provider={self.provider!r}, method={self.method!r}, url={url!r}, "
            f"headers={redact_headers(self.headers)!r}, body=<{len(self.body)} bytes>)"
        )

    def with_headers(self, extra: Mapping[str, str]) -> PreparedRequest:
        """A copy with ``extra`` headers added (used to attach a credential at send time)."""
        merged = dict(self.headers)
        merged.update({k.lower(): v for k, v in extra.items()})
        return PreparedRequest(
            provider=self.provider,
            target=self.target,
            method=self.method,
            url=self.url,
            headers=merged,
            body=self.body,
            payload=self.payload,
            credential_pending=False,
        )

    def to_dict(self, *, reveal_secrets: bool = False) -> dict[str, Any]:
        """A JSON-friendly view: method, url, headers (redacted unless ``reveal_secrets``), payload, body size."""
        return {
            "provider": self.provider,
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers) if reveal_secrets else redact_headers(self.headers),
            "payload": plain_json(self.payload),
            "body_bytes": len(self.body),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """``to_dict()`` as JSON text (credentials redacted)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """A provider's decoded answer to one request, as a provider's pure ``parse`` returns it.

    The client turns it into a ``SendResult`` after the retry policy has run. ``retryable`` says the
    same request may succeed later (429, 5xx, a refreshable credential); ``refresh_credential`` asks the
    client to re-mint the credential once before resending (APNs ``ExpiredProviderToken``, FCM plain 401).
    """

    ok: bool
    status_code: int
    message_id: str | None = None
    error: ProviderError | None = None
    reason: object | None = None
    token_invalid: bool = False
    invalidated_at: datetime | None = None
    retry_after: float | None = None
    retryable: bool = False
    refresh_credential: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class SendResult:
    """The final result for one target: exactly one per target, never an exception from a batch.

    ``error`` is a ``ProviderError`` (the provider said no), a ``TransportError`` (no answer after the
    retries, or the client was closed first), or, in a batch only, the ``ValidationError`` or
    ``ConfigurationError`` that kept this one target from being routed or rendered (then ``target`` is
    the batch item as given, even if it is not a ``Target``). ``attempts`` counts the requests made (0
    when nothing was sent); a ``TransportError``'s message quotes the same count. A send policy's
    refusal (``docs/policies.md``) is a result too: ``error`` a ``PolicyError``, ``reason`` the policy's
    name, ``attempts`` 0 and, when it is deferred, ``deferred_until`` the time it may be sent.
    """

    ok: bool
    target: Target
    provider: str
    status_code: int | None = None
    message_id: str | None = None
    error: UnipushError | None = None
    reason: object | None = None
    token_invalid: bool = False
    invalidated_at: datetime | None = None
    retry_after: float | None = None
    attempts: int = 1
    deferred_until: datetime | None = None

    def raise_for_error(self) -> SendResult:
        """Raise ``error`` if the send failed; return ``self`` otherwise (for chaining)."""
        if self.error is not None:
            raise self.error
        return self

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"failed reason={self.reason!r}"
        return (
            f"SendResult({state}, provider={self.provider!r}, target={_short(self.target)!r}, "
            f"status={self.status_code}, attempts={self.attempts})"
        )


def _short(target: object) -> str:
    # In a batch, an item that was not a Target still gets its result (which holds the item as given).
    return target.short() if isinstance(target, Target) else f"<not a target: {type(target).__name__}>"


@dataclass(frozen=True, slots=True)
class BatchResult(Sequence[SendResult]):
    """The results of ``send_many``, in input order, with shortcuts to the ones that matter.

    ``summary()`` counts them by provider, outcome and reason (docs/monitoring.md).
    """

    results: tuple[SendResult, ...] = field(default=())

    @overload
    def __getitem__(self, index: int) -> SendResult: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[SendResult]: ...
    def __getitem__(self, index: int | slice) -> SendResult | Sequence[SendResult]:
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[SendResult]:
        return iter(self.results)

    @property
    def succeeded(self) -> list[SendResult]:
        """The results that were accepted by their provider."""
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[SendResult]:
        """The results that were not accepted (including dead tokens)."""
        return [r for r in self.results if not r.ok]

    @property
    def invalid_tokens(self) -> list[Target]:
        """The targets whose token or subscription is dead and should be deleted."""
        return [r.target for r in self.results if r.token_invalid]

    def summary(self) -> ResultSummary:
        """The results counted by provider, outcome and reason (``str()`` of it is a table)."""
        summary = ResultSummary()
        for result in self.results:
            summary.add(result)
        return summary


# The outcome of a final result, as metrics (docs/monitoring.md), summaries and the CLI name it.
OutcomeName = Literal["delivered", "rejected", "invalid_token", "failed"]
OUTCOMES: tuple[OutcomeName, ...] = ("delivered", "rejected", "invalid_token", "failed")


def outcome_of(result: SendResult) -> OutcomeName:
    """``delivered``; ``invalid_token`` (delete it); ``rejected`` (the provider answered no); ``failed``.

    ``failed`` is a result with no provider answer: a transport failure after the retries, a client
    closed first, or a batch item that could not be routed or rendered.
    """
    if result.ok:
        return "delivered"
    if result.token_invalid:
        return "invalid_token"
    return "rejected" if isinstance(result.error, ProviderError) or result.status_code is not None else "failed"


def reason_text(result: SendResult) -> str:
    """The result's reason as plain text: the provider's reason code, an error class, or ``""``.

    ``ApnsReason.UNREGISTERED`` → ``"Unregistered"``, ``FcmErrorCode`` → ``"UNREGISTERED"``, Web Push's
    status → ``"410"``; a transport failure → ``"TransportError"``/``"TimeoutError"``.
    """
    reason = result.reason
    if isinstance(reason, Enum):
        return str(reason.value)
    if reason is not None:
        return str(reason)
    if result.error is not None:
        return type(result.error).__name__
    return ""


@dataclass(frozen=True, slots=True)
class OutcomeCount:
    """How many targets of one provider ended with one outcome and reason."""

    provider: str
    outcome: OutcomeName
    reason: str
    count: int


class ResultSummary:
    """Results counted by provider, outcome and reason, as they arrive (``BatchResult.summary()``).

    Memory grows with the distinct (provider, outcome, reason) triples only, so a stream of any
    length can be counted with ``add``. ``str(summary)`` is ``format_summary(summary.counts)``.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, OutcomeName, str], int] = {}

    def add(self, result: SendResult) -> None:
        """Count one final result."""
        outcome = outcome_of(result)
        key = (result.provider, outcome, "" if outcome == "delivered" else reason_text(result))
        self._counts[key] = self._counts.get(key, 0) + 1

    @property
    def counts(self) -> tuple[OutcomeCount, ...]:
        """One row per (provider, outcome, reason), by provider, then outcome order, then reason."""
        order = {name: i for i, name in enumerate(OUTCOMES)}
        keys = sorted(self._counts, key=lambda k: (k[0], order[k[1]], k[2]))
        return tuple(OutcomeCount(p, o, r, self._counts[(p, o, r)]) for p, o, r in keys)

    @property
    def total(self) -> int:
        """Results counted."""
        return sum(self._counts.values())

    def count(self, *, provider: str | None = None, outcome: str | None = None, reason: str | None = None) -> int:
        """The number of results matching every filter given."""
        want = (provider, outcome, reason)
        return sum(n for key, n in self._counts.items() if all(w in (None, k) for w, k in zip(want, key, strict=True)))

    def __len__(self) -> int:
        return len(self._counts)

    def __repr__(self) -> str:
        return f"ResultSummary({self.total} results in {len(self._counts)} rows)"

    def __str__(self) -> str:
        return format_summary(self.counts)


def format_summary(counts: Iterable[OutcomeCount]) -> str:
    """``counts`` (``ResultSummary.counts``, ``CampaignReport.counts``) as a plain-text table.

    One row per provider, outcome and reason, with its count and its share of all results, then a
    total; the columns are padded to their widest cell.
    """
    rows = list(counts)
    total = sum(c.count for c in rows)
    table = [("provider", "outcome", "reason", "count", "share")]
    for c in rows:
        share = f"{100 * c.count / total:.1f}%" if total else "-"
        table.append((c.provider, c.outcome, c.reason or "-", f"{c.count:,}", share))
    table.append(("total", "", "", f"{total:,}", "100.0%" if total else "-"))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = []
    for row in table:
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
