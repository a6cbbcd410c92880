"""The ``unipush`` command line.

Exit codes: 0 success; 1 the command ran but something failed (a send was rejected); 2 usage error or
bad input (argparse's convention); 130 interrupted. Errors are one line on stderr, never a traceback,
unless ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from unipush._errors import UnipushError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unipush", description="Send push notifications to APNs, FCM and Web Push, or run the local sandbox."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sandbox = commands.add_parser("sandbox", help="run the local APNs, FCM and Web Push emulators until interrupted")
    sandbox.add_argument("--json", action="store_true", help="print machine-readable JSON lines")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")

    commands.add_parser("demo", help="send one rich notification to each provider through a local sandbox")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            return _run_sandbox(args.host, as_json=args.json, out=sys.stdout)
        if args.command == "demo":
            return _run_demo(out=sys.stdout)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (UnipushError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"unipush: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE  # pragma: no cover - argparse requires a known command


def _run_sandbox(host: str, *, as_json: bool, out: TextIO) -> int:
    from unipush.sandbox import Delivery, Sandbox

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with Sandbox(host=host) as sandbox:
            info = sandbox.info()
            if as_json:
                print(json.dumps(info), file=out, flush=True)
            else:
                print("unipush sandbox running (Ctrl-C to stop)", file=out)
                for name, value in info.items():
                    print(f"  {name:<24} {value}", file=out)
                out.flush()

            def show(delivery: Delivery) -> None:
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

            sandbox.inbox.subscribe(show)
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def _run_demo(*, out: TextIO) -> int:
    from unipush.sandbox._demo import run_demo

    return EXIT_OK if run_demo(out) else EXIT_FAILED
