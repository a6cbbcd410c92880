"""What every ``unipush`` subcommand shares: exit codes, the one-line error, small parsers.

Exit codes (also in ``docs/cli.md``):

====  ======================================================================================
0     success: everything was sent (or rendered, or generated)
1     the command ran, but something failed: a provider rejected a send, a transport error
      outlasted the retries, a row of the targets file was skipped, or an I/O error
2     usage error or bad input: unknown flag, missing or malformed credentials, config file,
      targets file or notification field; nothing more is sent once it is found
130   interrupted (Ctrl-C); a ``send`` prints its summary so far first
====  ======================================================================================
"""

from __future__ import annotations

import re
from typing import NoReturn

__all__ = [
    "DOCS_URL",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "docs_url",
    "fail",
    "parse_duration",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The published documentation (``[project.urls] Documentation`` in pyproject.toml, ``site_url`` in
#: mkdocs.yml; tests/cli/test_help.py keeps the three equal). Help texts link here: the wheel ships no docs.
DOCS_URL = "https://unipush.readthedocs.io/en/latest/"


def docs_url(page: str) -> str:
    """The published URL of ``docs/<page>.md`` (mkdocs' directory URLs; no anchor, so help text wraps it whole)."""
    return f"{DOCS_URL}{page}/"


class CliError(Exception):
    """A problem the command reports as one line (``unipush: error: <message>``) and exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        self.message = message
        self.code = code
        super().__init__(message)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Raise a ``CliError`` (exit 2, bad input, unless ``code`` says otherwise)."""
    raise CliError(message, code)


_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds from ``3600``, ``90s``, ``15m``, ``1h`` or ``7d``; ``ValueError`` for anything else."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"expected seconds or a number with s, m, h or d (like 3600, 15m, 1h), got {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
