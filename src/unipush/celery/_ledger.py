"""A campaign's ledger in Redis: one idempotency record per (campaign, target), counters, dead tokens.

Every chunk task writes here what its targets' providers answered, atomically per target (a Lua
script: Redis runs a script as one command, nothing interleaves). The record is written with
``HSETNX``, and the counters move only when the record is new, so a target answered twice (a chunk
redelivered after its worker died, a target listed twice) is counted once and the report holds exactly
one result per target. A chunk reads the records before sending and skips the targets already answered.

Completion is counted the same way: a chunk adds its index to a set once it has recorded all its
targets; the producer stores the number of chunks when it has dispatched the last one (the source is
streamed, so the number is not known before). Whoever sees ``finished chunks == chunks`` first asks for
the report. No result backend is involved: nothing waits on a chord, and no chunk result is stored.

Keys (``{prefix}:{campaign}:...``, all expiring after ``ttl`` seconds):
``meta`` (hash: chunks, targets, created), ``done`` (hash: target fingerprint → outcome),
``counts`` (hash: outcome → count), ``dead`` (list of dead-token JSON), ``chunks`` (set of finished
chunk indexes), ``report`` (the final report JSON), ``signal`` (a list pushed once the report exists).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis

__all__ = ["COUNT_SEPARATOR", "Ledger", "fingerprint"]

# Separates provider, outcome and reason in a counter's field name: never in a provider name or reason.
COUNT_SEPARATOR = "\x1f"

_RECORD = """
local added = 0
for i = 2, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 1], 1)
    if ARGV[i + 2] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[i + 2]) end
    added = added + 1
  end
end
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ARGV[1]) end
return added
"""

# KEYS: chunks, meta, report. ARGV: ttl, chunk index ('' when sealing), chunks total ('' unless sealing),
# targets total. Returns 1 when the campaign is complete and its report should be built now: the call
# that completed it, or a redelivered chunk finding it complete with no report yet (the first finisher
# may have died before asking for the report).
_FINISH = """
local added = 0
if ARGV[2] ~= '' then added = redis.call('SADD', KEYS[1], ARGV[2]) end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], 'chunks', ARGV[3], 'targets', ARGV[4])
  added = 1
end
for k = 1, 2 do redis.call('EXPIRE', KEYS[k], ARGV[1]) end
local total = redis.call('HGET', KEYS[2], 'chunks')
if not total or tonumber(total) ~= redis.call('SCARD', KEYS[1]) then return 0 end
if added == 1 or redis.call('EXISTS', KEYS[3]) == 0 then return 1 end
return 0
"""


def fingerprint(provider: str, key: str) -> bytes:
    """The idempotency field of one target: 16 bytes of BLAKE2b over provider and key.

    A Web Push endpoint is a few hundred bytes; the digest keeps a million-target campaign's records
    near 40 MB in Redis, with a collision chance (2^-128 per pair) far below any other failure.
    """
    return hashlib.blake2b(f"{provider}\x00{key}".encode(), digest_size=16).digest()


class Ledger:
    """The Redis side of campaigns: records, counters, completion and the stored report."""

    def __init__(self, client: redis.Redis, *, prefix: str = "unipush:campaign", ttl: int = 7 * 24 * 3600) -> None:
        self._redis = client
        self._prefix = prefix
        self.ttl = ttl
        self._record = client.register_script(_RECORD)
        self._finish = client.register_script(_FINISH)

    def key(self, campaign: str, name: str) -> str:
        """The Redis key ``name`` of ``campaign``."""
        return f"{self._prefix}:{campaign}:{name}"

    def start(self, campaign: str) -> bool:
        """Register a new campaign; False if the id is already taken."""
        created = self._redis.hsetnx(self.key(campaign, "meta"), "created", str(time.time()))
        self._redis.expire(self.key(campaign, "meta"), self.ttl)
        return bool(created)

    def answered(self, campaign: str, fingerprints: Sequence[bytes]) -> list[bool]:
        """Whether each target already has its record (it was answered before a redelivery)."""
        if not fingerprints:
            return []
        values = self._redis.hmget(self.key(campaign, "done"), list(fingerprints))
        return [value is not None for value in values]

    def record(self, campaign: str, entries: Iterable[tuple[bytes, str, str | None]]) -> int:
        """Record ``(fingerprint, outcome, dead-token JSON or None)`` per answered target, atomically each.

        Returns how many were new (a target recorded before is neither counted nor listed again).
        """
        argv: list[Any] = [self.ttl]
        for fp, outcome, dead in entries:
            argv += [fp, outcome, dead or ""]
        if len(argv) == 1:
            return 0
        keys = [self.key(campaign, "done"), self.key(campaign, "counts"), self.key(campaign, "dead")]
        return int(self._record(keys=keys, args=argv))

    def chunk_finished(self, campaign: str, index: int) -> bool:
        """Mark chunk ``index`` finished; True when this completes the campaign (build the report)."""
        return self._complete(campaign, str(index), "", "")

    def seal(self, campaign: str, *, chunks: int, targets: int) -> bool:
        """Store the number of chunks dispatched; True when every chunk had already finished."""
        return self._complete(campaign, "", str(chunks), str(targets))

    def _complete(self, campaign: str, index: str, chunks: str, targets: str) -> bool:
        keys = [self.key(campaign, "chunks"), self.key(campaign, "meta"), self.key(campaign, "report")]
        return bool(self._finish(keys=keys, args=[self.ttl, index, chunks, targets]))

    def progress(self, campaign: str) -> dict[str, int | None]:
        """Chunks finished, chunks dispatched (None until sealed), targets recorded."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.scard(self.key(campaign, "chunks"))
        pipe.hget(self.key(campaign, "meta"), "chunks")
        pipe.hlen(self.key(campaign, "done"))
        finished, chunks, recorded = pipe.execute()
        return {
            "chunks_finished": int(finished),
            "chunks": None if chunks is None else int(chunks),
            "recorded": int(recorded),
        }

    def snapshot(self, campaign: str) -> tuple[dict[str, str], dict[str, int], list[dict[str, Any]]]:
        """``meta``, the counters and the dead tokens, read in one round trip."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hgetall(self.key(campaign, "meta"))
        pipe.hgetall(self.key(campaign, "counts"))
        pipe.lrange(self.key(campaign, "dead"), 0, -1)
        meta, counts, dead = pipe.execute()
        return (
            {_text(k): _text(v) for k, v in meta.items()},
            {_text(k): int(v) for k, v in counts.items()},
            [json.loads(item) for item in dead],
        )

    def store_report(self, campaign: str, report: str) -> None:
        """Store the report JSON and wake whoever waits for it (``Campaign.wait``)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.key(campaign, "report"), report, ex=self.ttl)
        pipe.delete(self.key(campaign, "signal"))
        pipe.rpush(self.key(campaign, "signal"), "1")
        pipe.expire(self.key(campaign, "signal"), self.ttl)
        pipe.execute()

    def report(self, campaign: str) -> str | None:
        """The stored report JSON, or None while the campaign runs."""
        value = self._redis.get(self.key(campaign, "report"))
        return None if value is None else _text(value)

    def wait_signal(self, campaign: str, timeout: int) -> bool:
        """Block up to ``timeout`` seconds (at least 1) for the report; True once it exists."""
        key = self.key(campaign, "signal")
        # BRPOPLPUSH-style: take the token and put it back, so every waiter sees it.
        value = self._redis.blmove(key, key, max(1, timeout), "RIGHT", "LEFT")
        return value is not None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
