"""What the three emulators share: the sandbox-only detail header, header-safe text, reasons, key files."""

from __future__ import annotations

import os
import re
from http import HTTPStatus
from pathlib import Path

__all__ = ["DETAIL_HEADER", "camel_phrase", "header_safe", "write_private"]

DETAIL_HEADER = "x-unipush-sandbox-detail"
"""A plain-words explanation on every error response (sandbox only; no real service sends it)."""


def header_safe(text: str) -> str:
    """A header value: printable ASCII only (non-ASCII escaped, control characters dropped; RFC 9110 §5.5)."""
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c for c in escaped if " " <= c <= "~")


def camel_phrase(status: int) -> str | None:
    """The HTTP reason phrase of ``status`` in CamelCase (``429`` → ``TooManyRequests``), None if unknown.

    Apple names its reasons for 429/500/503 this way, and the emulators name the statuses of injected
    faults that have no reason of their own in the same style.
    """
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return None
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", phrase) if word)


def write_private(path: Path, data: bytes) -> None:
    """Write a credential file readable only by its owner (0600), as any private key file should be."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
