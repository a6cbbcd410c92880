"""``unipush render``: the exact request(s) ``send`` would make, as JSON or as ``curl`` command lines.

Nothing is sent. Credentials are redacted unless ``--reveal``; with ``--reveal`` an FCM request gets
its OAuth2 access token, which takes one request to the token endpoint (the only I/O ``render`` does).

``--curl`` prints one runnable command per target. A text body (APNs and FCM JSON) is passed
literally with ``--data-binary '…'``; a binary body (Web Push's aes128gcm ciphertext) is written as
base64 and decoded into curl's standard input: ``printf %s '<base64>' | base64 -d | curl … --data-binary @-``,
so the bytes on the wire are exactly the prepared ones. APNs only speaks HTTP/2, hence ``--http2``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import inspect
import json
import shlex
import ssl
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any, TextIO

from unipush import PreparedRequest, Provider, SupportsAuthorize, UnipushError
from unipush.cli._common import EXIT_OK, EXIT_USAGE
from unipush.cli._config import add_settings_arguments
from unipush.cli._notification import add_notification_arguments, cli_error_text, notification_from_args
from unipush.cli._session import Session
from unipush.cli._targets import BadRow, add_target_arguments

__all__ = ["add_render_parser", "curl_command", "request_json", "run_render"]


def add_render_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``render`` on the subcommand parsers."""
    parser = commands.add_parser(
        "render",
        parents=parents,
        help="print the request(s) send would make, as JSON or curl command lines, without sending",
        description="Print the prepared request for each target, as JSON (credentials redacted) or as a "
        "runnable curl command line. Nothing is sent.",
    )
    add_notification_arguments(parser)
    add_target_arguments(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--curl", action="store_true", help="print curl command lines instead of JSON")
    output.add_argument(
        "--reveal",
        action="store_true",
        help="show credentials (JWTs, VAPID, an FCM access token, fetched for the purpose) instead of <redacted>",
    )
    output.add_argument("--compact", action="store_true", help="one JSON object per line instead of indented")
    add_settings_arguments(parser)
    parser.set_defaults(handler=run_render)


def request_json(request: PreparedRequest, *, reveal: bool) -> dict[str, Any]:
    """The JSON view of a prepared request: target, method, url, headers, payload and body size.

    A body that is not the payload's JSON text (Web Push ciphertext) is included as ``body_base64``;
    ``credential_pending`` marks an FCM request whose access token is attached only when sending.
    """
    view: dict[str, Any] = {"target": request.target.key, **request.to_dict(reveal_secrets=reveal)}
    if _text_body(request.body) is None:
        view["body_base64"] = base64.b64encode(request.body).decode("ascii")
    if request.credential_pending:
        view["credential_pending"] = True
    return view


def _text_body(body: bytes) -> str | None:
    """``body`` as text when it can be passed literally on a command line, else ``None``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # "@..." would make curl read a file; NUL cannot be in an argv string.
    if "\x00" in text or text.startswith("@"):
        return None
    return text


def curl_command(request: PreparedRequest, *, ca: str | None = None, reveal: bool = False) -> str:
    """A shell command that makes exactly ``request`` with curl (credentials redacted unless ``reveal``)."""
    head = ["curl", "-sS", "-i"]
    if request.provider == "apns":
        head.append("--http2")  # Apple: "APNs requires HTTP/2"; curl would otherwise try HTTP/1.1 first
    if ca is not None:
        head += ["--cacert", ca]
    head += ["-X", request.method, request.url]
    headers: Mapping[str, str] = request.headers if reveal else _redacted_headers(request)
    lines = [" ".join(shlex.quote(part) for part in head)]
    for name, value in headers.items():
        # "name;" is curl's syntax for a header with an empty value ("name:" would remove it).
        lines.append("-H " + shlex.quote(f"{name}: {value}" if value else f"{name};"))
    if "content-type" not in headers and request.body:
        lines.append("-H " + shlex.quote("content-type:"))  # no curl default (x-www-form-urlencoded)
    prefix = ""
    if request.body:
        text = _text_body(request.body)
        if text is not None:
            lines.append("--data-binary " + shlex.quote(text))
        else:
            encoded = base64.b64encode(request.body).decode("ascii")
            prefix = f"printf %s {shlex.quote(encoded)} | base64 -d | "
            lines.append("--data-binary @-")
    return prefix + " \\\n  ".join(lines)


def run_render(
    args: argparse.Namespace, *, stdout: TextIO, stderr: TextIO, environ: Mapping[str, str] | None = None
) -> int:
    """Run ``unipush render``; returns the exit code."""
    notification = notification_from_args(args)
    problems = 0
    redacted = False
    with ExitStack() as stack:
        session = Session.open(args, stack, environ)
        by_name = {p.name: p for p in session.providers}
        client = session.client()
        ca = session.settings.get("client", "ca")
        ssl_context = ssl.create_default_context(cafile=ca) if args.reveal else None
        for row in session.rows:
            where = session.where(row) if session.source is not None else "target"
            if isinstance(row, BadRow):
                problems += 1
                stderr.write(f"unipush: error: {where}: {row.message}\n")
                continue
            missing = session.unconfigured(row)
            if missing is not None:
                raise missing
            try:
                prepared = client.render(notification, row.target)
                if args.reveal and prepared.credential_pending:
                    assert ssl_context is not None
                    prepared = asyncio.run(_authorized(by_name[row.target.provider], prepared, ssl_context))
            except UnipushError as exc:
                problems += 1
                stderr.write(f"unipush: error: {where} ({row.target.provider}): {cli_error_text(exc)}\n")
                continue
            if args.curl:
                if not args.reveal and prepared.credential_pending:
                    # Shown, so the command says what it lacks; --reveal fetches the real token.
                    prepared = prepared.with_headers({"authorization": "Bearer <redacted>"})
                redacted = redacted or (not args.reveal and dict(prepared.headers) != _redacted_headers(prepared))
                stdout.write(curl_command(prepared, ca=ca, reveal=args.reveal) + "\n\n")
            else:
                view = request_json(prepared, reveal=args.reveal)
                stdout.write(json.dumps(view, ensure_ascii=False, indent=None if args.compact else 2) + "\n")
    if redacted:
        stderr.write("unipush: note: credentials are shown as <redacted>; add --reveal for a runnable command\n")
    return EXIT_USAGE if problems else EXIT_OK


async def _authorized(provider: Provider, request: PreparedRequest, ssl_context: ssl.SSLContext) -> PreparedRequest:
    """``request`` with the credential a send would attach (FCM's OAuth2 access token).

    Through the provider's public ``SupportsAuthorize`` hook, a plain or an async method (docs/plugins.md).
    """
    if not isinstance(provider, SupportsAuthorize):
        return request
    result = provider.authorize(request, refresh=False, ssl_context=ssl_context)
    return await result if inspect.isawaitable(result) else result


def _redacted_headers(request: PreparedRequest) -> dict[str, str]:
    headers: dict[str, str] = request.to_dict(reveal_secrets=False)["headers"]
    return headers
