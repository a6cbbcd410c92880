"""``unipush vapid generate``: a new VAPID key pair (RFC 8292) for Web Push.

The private key is PKCS#8 PEM: written to ``--out`` (created with mode 0600, never overwritten unless
``--force``), or printed to standard output. The public key is the base64url uncompressed P-256 point
that the web page passes as ``applicationServerKey`` to ``pushManager.subscribe()``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TextIO

from unipush.cli._common import EXIT_OK, fail
from unipush.webpush import generate_vapid_keys

__all__ = ["add_vapid_parser", "run_vapid_generate", "write_private_file"]


def add_vapid_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``vapid generate`` on the subcommand parsers."""
    vapid = commands.add_parser("vapid", parents=parents, help="VAPID keys for Web Push")
    actions = vapid.add_subparsers(dest="vapid_command", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate",
        parents=parents,
        help="make a new key pair: a PEM private key and the browser's applicationServerKey",
        description="Make a new VAPID (P-256) key pair. With --out, the PEM private key goes to that file "
        "(mode 0600) and standard output gets the applicationServerKey alone; without --out, standard output "
        "gets the PEM and then an 'applicationServerKey: ...' line.",
    )
    generate.add_argument("--out", metavar="FILE", help="write the PEM private key to FILE (mode 0600)")
    generate.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    generate.add_argument(
        "--json",
        action="store_true",
        help='print {"application_server_key", "private_key_pem" (without --out) or "private_key_path"}',
    )
    generate.set_defaults(handler=run_vapid_generate)


def write_private_file(path: Path, data: str, *, force: bool) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), refusing to replace it unless ``force``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        fail(f"--out: {path} exists; pass --force to replace it")
    except OSError as exc:
        fail(f"--out: cannot write {path}: {exc.strerror or exc}")
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        # O_CREAT's mode applies only to a new file; an existing one (with --force) keeps its own.
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def run_vapid_generate(args: argparse.Namespace, *, stdout: TextIO, stderr: TextIO, **_: object) -> int:
    """Run ``unipush vapid generate``; returns the exit code."""
    pair = generate_vapid_keys()
    result: dict[str, str] = {"application_server_key": pair.public_key}
    if args.out is not None:
        path = Path(args.out).expanduser()
        write_private_file(path, pair.private_key_pem, force=args.force)
        result["private_key_path"] = str(path)
        if args.json:
            stdout.write(json.dumps(result) + "\n")
        else:
            stdout.write(pair.public_key + "\n")
            stderr.write(f"private key written to {path} (mode 0600); the line above is the applicationServerKey\n")
        return EXIT_OK
    if args.json:
        result["private_key_pem"] = pair.private_key_pem
        stdout.write(json.dumps(result) + "\n")
    else:
        stdout.write(pair.private_key_pem)
        stdout.write(f"applicationServerKey: {pair.public_key}\n")
    return EXIT_OK
