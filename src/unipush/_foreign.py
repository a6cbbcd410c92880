"""Turning a provider's (a plugin's) non-unipush exception into the one-line unipush error it stands for.

Only unipush's error tree leaves the public API (``_errors``): ``send()`` raises, and a batch reports,
these instead of whatever third-party code raised. The original stays the ``__cause__`` for debugging.
"""

from __future__ import annotations

from unipush._errors import ConfigurationError, UnipushError, ValidationError

__all__ = ["describe", "foreign_error"]


def describe(exc: BaseException) -> str:
    """``"KeyError: 'x'"``: the type and the first line of the message, capped (it goes into one line)."""
    text = str(exc)
    first = text.splitlines()[0][:200] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def foreign_error(provider: str, stage: str, exc: Exception) -> UnipushError:
    """The unipush error for ``exc``, raised by ``provider`` while it did ``stage`` ("render", "authorize").

    While rendering, a ``ValueError``/``TypeError``/``OverflowError`` (``UnicodeError`` included) says the
    input could not be rendered: a ``ValidationError``. Anything else (and anything from a credential
    hook) says the provider itself is broken: a ``ConfigurationError``.
    """
    if stage == "render" and isinstance(exc, (ValueError, TypeError, OverflowError)):
        return ValidationError("notification", f"provider {provider!r} could not {stage} it ({describe(exc)})")
    return ConfigurationError(f"provider {provider!r} failed to {stage} the request ({describe(exc)})")
