"""FCM targets: a registration token, a topic, or a condition over topics.

The FCM v1 ``Message`` takes exactly one of ``token``, ``topic`` or ``condition``. Each target class
stands for one of them and checks what FCM would refuse before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from unipush._errors import ValidationError
from unipush._targets import Target
from unipush._validate import check_text

__all__ = ["FcmCondition", "FcmDevice", "FcmTarget", "FcmTopic"]

MAX_TOKEN_LENGTH = 4096
"""Upper bound on a registration token's length. Real tokens are about 150-200 characters; the bound
only catches a payload or a whole JSON document passed by mistake."""

MAX_CONDITION_TOPICS = 5
"""FCM accepts at most five topics in one condition expression (topic messaging guide)."""

# A registration token as FCM issues them: printable ASCII without spaces. One C-level match accepts
# these; anything else takes the slow path below, which names what is wrong (Python's str.isspace and
# the regex \s are the same Unicode test, so no token changes side).
_PLAIN_TOKEN = re.compile(rf"[\x21-\x7e]{{1,{MAX_TOKEN_LENGTH}}}")
_WHITESPACE = re.compile(r"\s")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Topic names allowed by the v1 API (Message.topic): letters, digits and ``-_.~%``.
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9\-_.~%]+")
_TOPIC_PREFIX = "/topics/"
# One ``'name' in topics`` clause of a condition; FCM's examples quote with ', and " is accepted too.
_CONDITION_CLAUSE = re.compile(r"""(['"])(.*?)\1\s*in\s+topics\b""")
_IN_TOPICS = re.compile(r"\bin\s+topics\b")


@dataclass(frozen=True, slots=True)
class FcmDevice(Target):
    """One app instance, by its FCM registration token: ``FcmDevice("dXN...")``."""

    token: str
    provider: ClassVar[str] = "fcm"

    def __post_init__(self) -> None:
        token = self.token
        if type(token) is str and _PLAIN_TOKEN.fullmatch(token):
            return  # the common case: nothing below can refuse it
        if not isinstance(token, str):
            raise ValidationError("token", f"must be a string, got {type(token).__name__}")
        if not token:
            raise ValidationError("token", "must not be empty")
        check_text("token", token)
        # Registration tokens are printable ASCII; whitespace or a control character means a paste error.
        if _WHITESPACE.search(token):
            raise ValidationError("token", "must not contain whitespace")
        if _CONTROL.search(token):
            raise ValidationError("token", "must not contain control characters")
        if len(token) > MAX_TOKEN_LENGTH:
            raise ValidationError("token", f"must be at most {MAX_TOKEN_LENGTH} characters, got {len(token)}")

    @property
    def key(self) -> str:
        """The registration token."""
        return self.token


@dataclass(frozen=True, slots=True)
class FcmTopic(Target):
    """Every app instance subscribed to a topic: ``FcmTopic("news")``.

    A leading ``/topics/`` (the legacy API's form) is accepted and removed, because the v1 API wants the
    bare name. ``name`` always holds the bare name.
    """

    name: str
    provider: ClassVar[str] = "fcm"
    target_type: ClassVar[str] = "topic"

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str):
            raise ValidationError("topic", f"must be a string, got {type(name).__name__}")
        name = name.removeprefix(_TOPIC_PREFIX)
        _check_topic_name("topic", name)
        object.__setattr__(self, "name", name)

    @property
    def key(self) -> str:
        """The bare topic name."""
        return self.name


@dataclass(frozen=True, slots=True)
class FcmCondition(Target):
    """The instances matching a boolean expression over topics.

    Example: ``FcmCondition("'stock' in topics && ('eu' in topics || 'us' in topics)")``. The expression is
    sent as written; unipush checks that every topic is quoted, that names use FCM's character set and that
    there are at most five topic clauses (FCM's limit).
    """

    expr: str
    provider: ClassVar[str] = "fcm"
    target_type: ClassVar[str] = "condition"

    def __post_init__(self) -> None:
        expr = self.expr
        if not isinstance(expr, str):
            raise ValidationError("condition", f"must be a string, got {type(expr).__name__}")
        if not expr.strip():
            raise ValidationError("condition", "must not be empty")
        check_text("condition", expr)
        clauses = _CONDITION_CLAUSE.findall(expr)
        if not clauses:
            raise ValidationError("condition", "must contain at least one 'topic' in topics clause")
        if len(_IN_TOPICS.findall(expr)) != len(clauses):
            raise ValidationError("condition", "every topic name must be quoted: 'name' in topics")
        if len(clauses) > MAX_CONDITION_TOPICS:
            raise ValidationError(
                "condition", f"may reference at most {MAX_CONDITION_TOPICS} topics, got {len(clauses)}"
            )
        for _quote, name in clauses:
            _check_topic_name("condition", name)

    @property
    def key(self) -> str:
        """The condition expression."""
        return self.expr


FcmTarget = FcmDevice | FcmTopic | FcmCondition
"""Any target the FCM provider serves."""


def _check_topic_name(field: str, name: str) -> None:
    if not name:
        raise ValidationError(field, "topic name must not be empty")
    if not _TOPIC_NAME.fullmatch(name):
        raise ValidationError(field, f"topic name must use only [a-zA-Z0-9-_.~%], got {name!r}")
