"""The base class of every push target (a device token, a topic, a browser subscription).

A target's class names the provider that serves it (``provider``), which is how a client routes a
``(notification, target)`` pair: built-in targets live in ``unipush.apns``, ``unipush.fcm`` and
``unipush.webpush``; a plugin defines its own subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

__all__ = ["Target", "shorten"]


def shorten(token: str, keep: int = 8) -> str:
    """A token shortened for logs and reprs: the first ``keep`` characters and an ellipsis."""
    return token if len(token) <= keep + 3 else f"{token[:keep]}…"


class Target(ABC):
    """Base class of push targets; subclasses are frozen dataclasses.

    ``provider`` (a class attribute) is the name of the provider that serves the target, e.g.
    ``"apns"``; ``key`` is the string that identifies the target to your database (the token, topic or
    endpoint) and is what ``on_invalid_token`` callbacks use to delete it.
    """

    __slots__ = ()
    provider: ClassVar[str]

    @property
    @abstractmethod
    def key(self) -> str:
        """The identifying string of this target (token, topic, condition or endpoint)."""

    def short(self) -> str:
        """``key`` shortened for logs: tokens are never logged whole."""
        return shorten(self.key)
