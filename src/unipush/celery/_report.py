"""What a campaign produces once every chunk is done: ``CampaignReport``, and the per-target outcome."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# OutcomeCount and reason_text are the ones BatchResult.summary() uses: one vocabulary for reports.
from unipush._results import OutcomeCount, SendResult, reason_text

__all__ = ["CampaignReport", "OutcomeCount", "dead_token_dict", "outcome_of", "reason_text"]

OutcomeName = Literal["delivered", "invalid_token", "failed"]
OUTCOMES: tuple[OutcomeName, ...] = ("delivered", "invalid_token", "failed")


def outcome_of(result: SendResult) -> OutcomeName:
    """``delivered``, ``invalid_token`` (delete it) or ``failed`` (anything else)."""
    if result.ok:
        return "delivered"
    return "invalid_token" if result.token_invalid else "failed"


def dead_token_dict(result: SendResult, campaign: str | None) -> dict[str, Any]:
    """A dead-token result as plain JSON, as the ``on_invalid_tokens`` task receives it.

    ``key`` is ``Target.key`` (the column to delete by), ``target`` the target's own ``to_dict()``,
    ``invalidated_at`` the provider's timestamp (ISO 8601, APNs 410 only) or ``None``.
    """
    return {
        "provider": result.provider,
        "key": result.target.key,
        "target": result.target.to_dict(),
        "reason": reason_text(result),
        "status_code": result.status_code,
        "invalidated_at": None if result.invalidated_at is None else result.invalidated_at.isoformat(),
        "campaign": campaign,
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignReport:
    """A finished campaign: one result per target, counted by provider, outcome and reason.

    ``targets`` is how many targets the producer dispatched; ``recorded`` how many results the ledger
    holds, one per distinct target (equal to ``targets`` unless the source listed a target twice).
    ``dead_tokens`` holds every dead token as ``on_invalid_tokens`` received it (``dead_token_dict``).
    """

    campaign_id: str
    targets: int
    chunks: int
    counts: tuple[OutcomeCount, ...]
    dead_tokens: tuple[Mapping[str, Any], ...] = ()

    @property
    def recorded(self) -> int:
        """Results recorded (one per distinct target)."""
        return sum(c.count for c in self.counts)

    def count(self, *, provider: str | None = None, outcome: str | None = None, reason: str | None = None) -> int:
        """The number of results matching every filter given."""
        return sum(
            c.count
            for c in self.counts
            if (provider is None or c.provider == provider)
            and (outcome is None or c.outcome == outcome)
            and (reason is None or c.reason == reason)
        )

    @property
    def delivered(self) -> int:
        """Targets whose provider accepted the notification."""
        return self.count(outcome="delivered")

    @property
    def invalid_tokens(self) -> int:
        """Targets whose token or subscription is dead."""
        return self.count(outcome="invalid_token")

    @property
    def failed(self) -> int:
        """Targets that failed for another reason (after the client's retries)."""
        return self.count(outcome="failed")

    def by_provider(self) -> dict[str, dict[str, int]]:
        """``{provider: {outcome: count}}`` with every outcome present."""
        table: dict[str, dict[str, int]] = {}
        for c in self.counts:
            row = table.setdefault(c.provider, dict.fromkeys(OUTCOMES, 0))
            row[c.outcome] += c.count
        return table

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (what the ``on_report`` task receives)."""
        return {
            "campaign_id": self.campaign_id,
            "targets": self.targets,
            "chunks": self.chunks,
            "recorded": self.recorded,
            "counts": [
                {"provider": c.provider, "outcome": c.outcome, "reason": c.reason, "count": c.count}
                for c in self.counts
            ],
            "dead_tokens": [dict(d) for d in self.dead_tokens],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignReport:
        """The inverse of ``to_dict``."""
        return cls(
            campaign_id=str(data["campaign_id"]),
            targets=int(data["targets"]),
            chunks=int(data["chunks"]),
            counts=tuple(
                OutcomeCount(str(c["provider"]), c["outcome"], str(c["reason"]), int(c["count"]))
                for c in data["counts"]
            ),
            dead_tokens=tuple(data.get("dead_tokens", ())),
        )

    def to_json(self) -> str:
        """``to_dict()`` as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def __str__(self) -> str:
        lines = [f"campaign {self.campaign_id}: {self.targets} targets in {self.chunks} chunks"]
        for provider, row in sorted(self.by_provider().items()):
            lines.append(f"  {provider}: " + ", ".join(f"{row[o]} {o}" for o in OUTCOMES))
        return "\n".join(lines)
