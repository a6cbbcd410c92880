"""``unipush demo``: one rich notification to a device of each provider, through an in-process sandbox."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from unipush.cli._common import EXIT_FAILED, EXIT_OK, docs_url

__all__ = ["add_demo_parser", "run_demo_command"]


def add_demo_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``demo`` on the subcommand parsers."""
    parser = commands.add_parser(
        "demo",
        parents=parents,
        help="send one rich notification to each provider through a local sandbox",
        description="Start a sandbox in this process and send one notification (image, deep link, action, "
        "badge, collapse key, TTL) to an APNs device, an FCM device and a browser subscription, plus one dead "
        "APNs token to show the invalid-token callback; then print each result and what each device received. "
        "Offline, no account needed; exit 0 when the three live devices got it and the dead token was reported. "
        f"More: {docs_url('sandbox')}",
    )
    parser.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace, *, stdout: TextIO, stderr: TextIO, **_: object) -> int:
    """Run ``unipush demo``; returns the exit code."""
    # The demo itself lives beside the sandbox it drives (it is also what the README's first command runs).
    from unipush.sandbox._demo import run_demo

    return EXIT_OK if run_demo(stdout) else EXIT_FAILED
