"""The toolkit for provider plugins: the protocol, its optional hooks, and the helpers a provider needs.

A plugin adds a push service to unipush (``docs/plugins.md`` walks through one, the Expo example
plugin is a complete one). Everything it needs is public here, typed and documented, so a plugin
imports one module and reimplements none of the HTTP details::

    from unipush.provider import Outcome, PreparedRequest, Provider, failure, retry_after_from_headers, success

The contract
    ``Provider`` (``name``, ``target_types``, ``prepare``, ``parse``) and its optional hooks:
    ``SupportsAuthorize`` (attach a credential at send time) and ``SupportsClientCertificate`` (a TLS
    client certificate for the provider's hosts, with ``ClientCertificate``). ``check_provider`` is
    what the client runs on a provider when it is built; a plugin's tests can run it too.

What ``prepare`` returns and ``parse`` builds
    ``PreparedRequest``, ``Outcome`` and ``Target``. ``success(status_code, message_id=...)`` and
    ``failure(error, token_invalid=..., retryable=..., refresh_credential=...)`` build an ``Outcome``
    with its facts set once (a failure takes its status, reason and ``Retry-After`` from the error).

HTTP helpers for a pure ``parse``
    ``header`` (a header by name, whatever the case of the keys), ``retry_after_from_headers`` (RFC
    9110 §10.2.3 delay-seconds, or an HTTP-date measured against the response's own ``Date``: a
    decoder reads no clock) and ``parse_retry_after`` (one value against a given time).

JSON and logs
    ``dumps_json`` (compact UTF-8 bytes, the body the built-ins send), ``load_json`` (total: ``None``
    for anything that is not JSON), ``redact_headers`` (credentials shown as ``<redacted>``),
    ``shorten`` (a token cut for logs) and ``excerpt`` (a server's words cut short for an error message).
"""

from __future__ import annotations

from unipush._excerpt import excerpt
from unipush._provider import (
    ClientCertificate,
    Provider,
    SupportsAuthorize,
    SupportsClientCertificate,
    check_provider,
    dumps_json,
    failure,
    load_json,
    success,
)
from unipush._results import Outcome, PreparedRequest, redact_headers
from unipush._retry import header, parse_retry_after, retry_after_from_headers
from unipush._targets import Target, shorten

__all__ = [
    "ClientCertificate",
    "Outcome",
    "PreparedRequest",
    "Provider",
    "SupportsAuthorize",
    "SupportsClientCertificate",
    "Target",
    "check_provider",
    "dumps_json",
    "excerpt",
    "failure",
    "header",
    "load_json",
    "parse_retry_after",
    "redact_headers",
    "retry_after_from_headers",
    "shorten",
    "success",
]
