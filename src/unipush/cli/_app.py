"""The ``unipush`` parser, ``main`` and its exit codes.

Commands: ``send`` (one notification to targets from flags or a streamed CSV / JSON-lines file),
``render`` (the exact requests, as JSON or curl), ``vapid generate`` (a Web Push key pair), ``sandbox``
(the local emulators, until interrupted) and ``demo``, one module each in this package. The published
docs (``docs/cli.md`` in the repository) have examples and the full reference of flags, environment
variables and the TOML config file.

Exit codes:

====  ======================================================================================
0     success
1     the command ran but something failed: a send was rejected or never answered, a row of
      the targets file was skipped, or an I/O error
2     usage error or bad input: unknown flag, missing or malformed credentials, config file,
      targets or notification field (argparse's convention)
130   interrupted (Ctrl-C)
====  ======================================================================================

Errors are one line on stderr (``unipush: error: ...``), never a traceback, unless ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from unipush import ConfigurationError, UnipushError, ValidationError
from unipush.cli._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CliError, docs_url

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``unipush: error: <what> (see 'unipush send --help')``."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"unipush: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    from unipush.cli.demo import add_demo_parser
    from unipush.cli.render import add_render_parser
    from unipush.cli.sandbox import add_sandbox_parser
    from unipush.cli.send import add_send_parser
    from unipush.cli.vapid import add_vapid_parser

    parser = _Parser(
        prog="unipush",
        description="Send push notifications to APNs, FCM and Web Push, or run the local sandbox.",
        epilog="Exit codes: 0 success, 1 something failed (a send, a skipped row), 2 usage error or bad input, "
        f"130 interrupted. Examples and the settings reference: {docs_url('cli')}",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and unipush's debug log")
    # Subcommands accept --debug too (after their name); SUPPRESS keeps the top-level value otherwise.
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # In the order of ``unipush --help``; each command module registers its own parser and handler.
    add_send_parser(commands, [common])
    add_render_parser(commands, [common])
    add_vapid_parser(commands, [common])
    add_sandbox_parser(commands, [common])
    add_demo_parser(commands, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # Reported by the subcommand's parser, so the hint names its --help.
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    debug: bool = args.debug
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("unipush: %(levelname)s: %(message)s" if debug else "unipush: %(message)s"))
    logger = logging.getLogger("unipush")
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        sys.stderr.write("unipush: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``unipush render ... | head``): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit (see "Note on SIGPIPE" in the signal docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except CliError as exc:
        if debug:
            raise
        return _error(exc.message, exc.code)
    except (ConfigurationError, ValidationError) as exc:
        if debug:
            raise
        return _error(str(exc), EXIT_USAGE)
    except (UnipushError, OSError, ValueError) as exc:
        if debug:
            raise
        return _error(str(exc) or type(exc).__name__, EXIT_FAILED)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def _dispatch(args: argparse.Namespace) -> int:
    code: int = args.handler(args, stdout=sys.stdout, stderr=sys.stderr)
    return code


def _error(message: str, code: int) -> int:
    # One line, whatever the message holds (a library message may quote a multi-line value).
    sys.stderr.write(f"unipush: error: {' '.join(message.split())}\n")
    return code
