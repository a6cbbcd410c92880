"""Quoting a server's words in an error message, cut short.

An error message quotes what the provider said (APNs' reason, FCM's ``error.message``, a push
service's text) so that a user can act on it. A server decides how long that text is, and an error
ends up in logs, reprs and results kept in memory, so the quote is cut at ``MAX_QUOTED`` characters
and says how long the whole was.
"""

from __future__ import annotations

__all__ = ["MAX_QUOTED", "excerpt"]

MAX_QUOTED = 500
"""Characters of server text quoted in an error message; every real provider message is shorter."""


def excerpt(text: str, limit: int = MAX_QUOTED, *, quote: bool = False) -> str:
    """``text`` (its ``repr`` with ``quote``) if short, else its first ``limit`` characters, "…" and its length."""
    if len(text) <= limit:
        return repr(text) if quote else text
    head = text[:limit]
    return f"{head!r}… ({len(text)} characters)" if quote else f"{head}… ({len(text)} characters)"
