"""Send policies: quiet hours, frequency caps, de-duplication and expiry, applied before rendering.

``PushClient(..., policies=[...], policy_store=...)`` and ``AsyncPushClient`` apply them in the
declared order to every send; a refusal is an ordinary ``SendResult`` (``ok=False``, ``reason`` the
policy's name, ``error`` a ``unipush.PolicyError``, ``deferred_until`` for a deferral). Counts live in
a store: ``MemoryPolicyStore`` (the default, one process) or ``RedisPolicyStore`` (a fleet).
A notification's ``expires_at`` is always honoured. See docs/policies.md.
"""

from __future__ import annotations

from unipush.policies._chain import PolicyChain
from unipush.policies._config import CONFIG_SECTIONS, policies_from_config
from unipush.policies._rules import Claim, Deduplicate, FrequencyCap, QuietHours, Refusal, SendPolicy, time_sensitive
from unipush.policies._stores import MemoryPolicyStore, PolicyStore, RedisPolicyStore

__all__ = [
    "CONFIG_SECTIONS",
    "Claim",
    "Deduplicate",
    "FrequencyCap",
    "MemoryPolicyStore",
    "PolicyChain",
    "PolicyStore",
    "QuietHours",
    "RedisPolicyStore",
    "Refusal",
    "SendPolicy",
    "policies_from_config",
    "time_sensitive",
]
