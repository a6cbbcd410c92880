"""``PolicyChain``: a client's send policies, applied in their declared order before a notification is rendered.

One call per send (``send``, each target of ``send_many``, each pair of ``stream``), wrapped around the
sender's own send. A refusal is an ordinary ``SendResult`` (``ok=False``, ``error`` a ``PolicyError``,
``reason`` the policy's name, ``attempts`` 0), so batches and streams keep one result per target.

What a refused or failed send leaves counted (``docs/policies.md``, "When a send fails"): the claims of a
send are taken in order and released again when a later policy refuses, when rendering raises, and when
the send's result shows that nothing reached the recipient (the provider refused it, or a
``TransportError`` with ``maybe_processed=False``). A send that may have been delivered (``ok``, or a
transport failure after the request left) stays counted: a cap is a promise to the user, so an unknown
outcome counts against it, and de-duplication never risks a second copy. The application may send a
released notification again, and it is admitted like a new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone

from unipush._errors import ConfigurationError, PolicyError, TransportError
from unipush._foreign import describe
from unipush._model import Notification
from unipush._results import SendResult
from unipush._targets import Target
from unipush.policies._rules import Claim, Refusal, SendPolicy
from unipush.policies._stores import MemoryPolicyStore, PolicyStore, new_token

__all__ = ["PolicyChain", "check_policies"]

Send = Callable[[Notification, Target], Awaitable[SendResult]]
Taken = list[tuple[str, str]]  # (store key, token) of the claims a send holds


logger = logging.getLogger("unipush")
_TARGET_TYPES: set[type] = set()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def check_policies(policies: object) -> tuple[SendPolicy, ...]:
    """``policies=`` as a tuple of ``SendPolicy``, names unique; else a one-line ``ConfigurationError``."""
    if isinstance(policies, (str, bytes, SendPolicy)) or not isinstance(policies, Iterable):
        raise ConfigurationError(f"policies must be a list of send policies, got {type(policies).__name__}")
    checked = tuple(policies)
    names: set[str] = set()
    for index, policy in enumerate(checked):
        if not isinstance(policy, SendPolicy):
            raise ConfigurationError(
                f"policies[{index}] must be a send policy (QuietHours...), got {type(policy).__name__}"
            )
        if policy.name in names:
            # The name is the prefix of the policy's store keys: two with one name would share counts.
            raise ConfigurationError(f"policies[{index}]: two policies are named {policy.name!r}: give each a name=")
        names.add(policy.name)
    return checked


class PolicyChain:
    """The send policies of one client, their store and clock (``PushClient(policies=..., policy_store=...)``)."""

    def __init__(
        self,
        policies: Iterable[SendPolicy] = (),
        store: PolicyStore | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.policies = check_policies(policies)
        if store is None:
            store = MemoryPolicyStore()
        elif not isinstance(store, PolicyStore):
            raise ConfigurationError(
                f"policy_store must be a PolicyStore (MemoryPolicyStore, RedisPolicyStore), got {type(store).__name__}"
            )
        self.store = store
        self._clock = clock

    def decide(self, notification: Notification, target: Target, now: datetime) -> tuple[Refusal | None, Taken]:
        """Apply the policies in order: the first refusal (claims taken before it released) or the claims held.

        Expiry comes first and always: a notification past its ``expires_at`` is never sent.
        """
        expires = notification.expires_at
        if expires is not None and now >= expires:
            return Refusal("expiry", f"expired at {expires.isoformat()}: not sent after it"), []
        taken: Taken = []
        stamp = now.timestamp()
        acquire = self.store.acquire
        try:
            for policy in self.policies:
                verdict = policy.evaluate(notification, target, now)
                if verdict is None:
                    continue
                if isinstance(verdict, Claim):
                    token = new_token()
                    try:
                        admitted = acquire(
                            verdict.key, limit=verdict.limit, window=verdict.window, now=stamp, token=token
                        )
                    except Exception as exc:  # Redis down, say: unchecked is not sent (never a second copy)
                        logger.warning("send policy %r: the policy store failed: %s", policy.name, describe(exc))
                        admitted = False
                        verdict = verdict._replace(
                            refusal=Refusal(policy.name, f"the policy store failed ({describe(exc)}): not sent")
                        )
                    if admitted:
                        taken.append((verdict.key, token))
                        continue
                    verdict = verdict.refusal
                self.release(taken)
                return verdict, []
        except BaseException:
            self.release(taken)
            raise
        return None, taken

    def release(self, taken: Taken) -> None:
        """Give back the claims of a send that certainly did not go out."""
        for key, token in taken:
            try:
                self.store.release(key, token)
            except Exception as exc:  # the count stays: the safe side of a cap (see "When a send fails")
                logger.warning("the policy store failed to give a count back: %s", describe(exc))

    async def send(self, notification: Notification, target: Target, send: Send) -> SendResult:
        """``send(notification, target)`` if the policies allow it, else the refusal as a result."""
        if not self.policies and getattr(notification, "expires_at", None) is None:
            return await send(notification, target)  # nothing to decide: the fast path
        given: object = notification  # typed for callers; a batch item may be anything
        if type(given) is not Notification or type(target) not in _TARGET_TYPES:
            if not isinstance(given, Notification) or not isinstance(target, Target):
                return await send(notification, target)  # the sender refuses it with the right error
            _TARGET_TYPES.add(type(target))  # isinstance on an ABC is slow: once per target class
        now = self._clock()
        if self.store.blocking and self.policies:  # Redis: off the event loop, in one worker-thread hop
            refusal, taken = await asyncio.to_thread(self.decide, notification, target, now)
        else:
            refusal, taken = self.decide(notification, target, now)
        if refusal is not None:
            return refused(refusal, target)
        if not taken:
            return await send(notification, target)
        try:
            result = await send(notification, target)
        except Exception:
            await self._give_back(taken)  # rendering (or routing) refused it: nothing was sent
            raise
        if not _maybe_delivered(result):
            await self._give_back(taken)
        return result

    async def _give_back(self, taken: Taken) -> None:
        if self.store.blocking:
            await asyncio.to_thread(self.release, taken)
        else:
            self.release(taken)


def _maybe_delivered(result: SendResult) -> bool:
    """Whether the notification may have reached the recipient: then it stays counted."""
    if result.ok:
        return True
    error = result.error
    return isinstance(error, TransportError) and error.maybe_processed


def refused(refusal: Refusal, target: Target) -> SendResult:
    """The ``SendResult`` of a notification a policy kept from being sent."""
    return SendResult(
        ok=False,
        target=target,
        provider=str(getattr(target, "provider", None) or "unknown"),
        error=PolicyError(
            f"send policy {refusal.policy!r}: {refusal.message}", policy=refusal.policy, until=refusal.until
        ),
        reason=refusal.policy,
        attempts=0,
        deferred_until=refusal.until,
    )
