"""``unipush sandbox``: the local APNs, FCM and Web Push services, for any program, until interrupted.

It prints the URLs and credentials (``--json``: one JSON object, ``Sandbox.info()``), then one line per
notification the services accept. ``--port`` and ``--dir`` make what it prints predictable, so that a
program in another language (or a compose file) can be configured once: the services listen on
``--port``, ``+1`` and ``+2``, and the CA and credential files are written to ``--dir`` under fixed names
(``ca.pem``, ``service-account.json``, ``vapid-private.pem``; the APNs key is ``AuthKey_<KEYID>.p8``,
named in ``sandbox.json`` beside them). The files are made fresh at each start and kept on exit.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from unipush.cli._common import EXIT_OK, docs_url, fail, parse_duration

if TYPE_CHECKING:
    from unipush.sandbox import Delivery

__all__ = ["INFO_FILE", "add_sandbox_parser", "run_sandbox", "sandbox_ports"]

#: With ``--dir``: the file (in that directory) holding the ``--json`` object, rewritten at each start.
INFO_FILE = "sandbox.json"

_SERVICES = ("apns", "fcm", "webpush")  # the order of --port, --port + 1, --port + 2
_HIGHEST_PORT = 65535


def add_sandbox_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``sandbox`` on the subcommand parsers."""
    parser = commands.add_parser(
        "sandbox",
        parents=parents,
        help="run the local APNs, FCM and Web Push emulators until interrupted",
        description="Run local APNs, FCM HTTP v1 and Web Push services over real TLS and HTTP/2 until Ctrl-C "
        "or SIGTERM, for any program in any language: point it at the printed URLs, trust the printed CA and "
        "load the printed credential files. POST to webpush_subscribe_url makes a browser subscription. "
        "Then one line is printed per notification the services accept. "
        f"Reference: {docs_url('sandbox')}",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print machine-readable JSON lines: the URLs and credentials first, then one per delivery",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--no-ui", action="store_true", help="do not serve the inbox web page (its URL is printed as ui_url)"
    )
    parser.add_argument(
        "--port",
        type=int,
        metavar="PORT",
        help="listen on fixed ports: APNs on PORT, FCM on PORT+1, Web Push on PORT+2 (default: free ports, "
        "chosen at random)",
    )
    parser.add_argument(
        "--dir",
        metavar="DIR",
        help=f"write the CA and credentials to DIR (created if missing, kept on exit; {INFO_FILE} there holds "
        "the --json object) instead of a temporary directory removed on exit",
    )
    parser.add_argument(
        "--apns-token-update-interval",
        type=_interval,
        metavar="DURATION",
        help="refuse a new APNs provider token for a key sooner than this after the previous one, with 429 "
        "TooManyProviderTokenUpdates (default 20m, Apple's rule; 0 turns it off: for clients that sign a new "
        "token per run)",
    )
    parser.set_defaults(handler=run_sandbox)


def _interval(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sandbox_ports(base: int | None) -> dict[str, int]:
    """The ``ports=`` of ``Sandbox`` for ``--port base``: three consecutive ports (none given: ``{}``)."""
    if base is None:
        return {}
    if not 1 <= base <= _HIGHEST_PORT - len(_SERVICES) + 1:
        fail(f"--port must be between 1 and {_HIGHEST_PORT - len(_SERVICES) + 1} (it uses three ports), got {base}")
    return {name: base + offset for offset, name in enumerate(_SERVICES)}


def run_sandbox(args: argparse.Namespace, *, stdout: TextIO, stderr: TextIO, **_: object) -> int:
    """Run ``unipush sandbox``; returns the exit code once interrupted (Ctrl-C or SIGTERM)."""
    from unipush.sandbox import Sandbox, install_hpack_cache

    install_hpack_cache()  # this process is only a sandbox: the process-wide hpack speed-up is safe here
    directory = Path(args.dir).expanduser().resolve() if args.dir is not None else None
    sandbox = Sandbox(host=args.host, directory=directory, ports=sandbox_ports(args.port), ui=not args.no_ui)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with sandbox:
            if args.apns_token_update_interval is not None:
                # Set before the URLs are printed, so no client can have sent a token yet.
                sandbox.apns.token_update_interval = args.apns_token_update_interval
            info = sandbox.info()
            if directory is not None:
                (directory / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            _print_info(info, as_json=args.json, out=stdout)
            sandbox.inbox.subscribe(lambda delivery: _print_delivery(delivery, as_json=args.json, out=stdout))
            _wait(stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def _wait(stop: threading.Event) -> None:
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


def _print_info(info: dict[str, Any], *, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(info), file=out, flush=True)
        return
    print("unipush sandbox running (Ctrl-C to stop)", file=out)
    for name, value in info.items():
        print(f"  {name:<24} {value}", file=out)
    out.flush()


def _print_delivery(delivery: Delivery, *, as_json: bool, out: TextIO) -> None:
    if as_json:
        record = {
            "provider": delivery.provider,
            "target": delivery.target,
            "message_id": delivery.message_id,
            "payload": delivery.payload,
            "headers": dict(delivery.headers),
        }
        print(json.dumps(record, ensure_ascii=False), file=out, flush=True)
    else:
        print(f"[{delivery.provider}] {delivery.target[:24]}… {json.dumps(delivery.payload)}", file=out)
        out.flush()
