"""The base class of every push target (a device token, a topic, a browser subscription).

A target's class names the provider that serves it (``provider``), which is how a client routes a
``(notification, target)`` pair: built-in targets live in ``unipush.apns``, ``unipush.fcm`` and
``unipush.webpush``; a plugin defines its own subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

__all__ = ["Target", "shorten"]


def shorten(token: str, keep: int = 8) -> str:
    """A token shortened for logs and reprs: the first ``keep`` characters and an ellipsis."""
    return token if len(token) <= keep + 3 else f"{token[:keep]}…"


class Target(ABC):
    """Base class of push targets; subclasses are frozen dataclasses.

    ``provider`` (a class attribute) is the name of the provider that serves the target, e.g.
    ``"apns"``; ``key`` is the string that identifies the target to your database (the token, topic or
    endpoint) and is what ``on_invalid_token`` callbacks use to delete it.

    ``target_type`` (a class attribute, ``"device"`` unless a subclass says otherwise) tells apart the
    target classes of one provider in the serialized form: ``FcmTopic.target_type`` is ``"topic"``.
    """

    __slots__ = ()
    provider: ClassVar[str]
    target_type: ClassVar[str] = "device"

    @property
    @abstractmethod
    def key(self) -> str:
        """The identifying string of this target (token, topic, condition or endpoint)."""

    def short(self) -> str:
        """``key`` shortened for logs: tokens are never logged whole."""
        return shorten(self.key)

    def to_dict(self) -> dict[str, Any]:
        """This target as plain JSON data (form v1), read back by ``unipush.target_from_dict``.

        ``{"v": 1, "provider": "apns", "type": "device", "token": "..."}``: the provider's name, the
        class's ``target_type`` and the dataclass fields that differ from their defaults
        (``docs/serialization.md``). A plugin's target inherits this when it is a dataclass.
        """
        from unipush._serialize import target_to_dict  # imported late: it imports the model

        return target_to_dict(self)
