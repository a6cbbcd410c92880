"""unipush on Celery: one long-lived client per worker process, batch tasks and streamed campaigns.

Install with ``pip install "unipush[celery]"`` (Celery and redis-py)::

    from celery import Celery
    from unipush.celery import PushTasks

    app = Celery("shop", broker=REDIS_URL)
    push = PushTasks(app, make_client, redis_url=REDIS_URL, on_invalid_tokens="shop.tasks.prune_tokens")

    campaign = push.campaign(notification, targets)   # in the web app: chunks of 1,000 become tasks
    report = campaign.wait()                          # counts by provider, outcome and reason

``docs/scale.md`` is the guide: the per-process client, the campaign ledger in Redis and what happens
when a worker dies, fleet-wide rate limits, and how many workers a given rate needs.
"""

from __future__ import annotations

from unipush.celery._ledger import Ledger, fingerprint
from unipush.celery._limits import FleetLimiter, FleetRetryPolicy, RateLimit
from unipush.celery._report import CampaignReport, OutcomeCount, dead_token_dict
from unipush.celery._tasks import DEFAULT_CHUNK_SIZE, DEFAULT_RECORD_EVERY, Campaign, PushTasks, TargetSource

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_RECORD_EVERY",
    "Campaign",
    "CampaignReport",
    "FleetLimiter",
    "FleetRetryPolicy",
    "Ledger",
    "OutcomeCount",
    "PushTasks",
    "RateLimit",
    "TargetSource",
    "dead_token_dict",
    "fingerprint",
]
