"""The ``Session`` of ``unipush send`` and ``unipush render``: settings → sandbox → targets → providers → client.

Both commands start the same way: merge the flags, the environment and the config file; start the
in-process sandbox for ``--sandbox`` and let its credentials replace the others; open the targets (flags,
a file, or a new sandbox device per provider); build the provider configs; and, once the command has chosen
its credential store, the client. ``Session.open`` does it once for both, and everything it opens closes
with the command's ``ExitStack``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unipush import CredentialStore, Provider, PushClient
from unipush.cli._common import CliError
from unipush.cli._config import Settings, build_client, build_providers, load_settings, use_sandbox
from unipush.cli._targets import BadRow, Format, Row, TargetFile, select_targets

if TYPE_CHECKING:
    from unipush.sandbox import Sandbox

__all__ = ["Session"]


@dataclass(slots=True)
class Session:
    """One run's settings, sandbox (``--sandbox``), targets and providers; ``client()`` adds the client.

    Attributes:
        settings: the merged settings (flags over environment over config file; ``--sandbox`` over all).
        sandbox: the in-process sandbox of ``--sandbox``, else ``None``.
        rows: the targets, in input order (a ``TargetFile`` streams them).
        source: the targets file, or ``None`` for flag (or sandbox) targets.
        format: the targets' format: ``"csv"``, ``"jsonl"`` or ``"flags"``.
        providers: the provider configs the settings describe.
        configured: their names.
        stack: where everything the session opens is closed.
    """

    settings: Settings
    sandbox: Sandbox | None
    rows: Iterable[Row | BadRow]
    source: TargetFile | None
    format: Format
    providers: list[Provider]
    configured: frozenset[str]
    stack: ExitStack

    @classmethod
    def open(cls, args: argparse.Namespace, stack: ExitStack, environ: Mapping[str, str] | None = None) -> Session:
        """Read the settings and targets of ``args``; what it starts (sandbox, file) closes with ``stack``.

        Raises ``CliError`` (or ``ConfigurationError``) naming the setting or target that is missing or wrong.
        """
        settings = load_settings(args, environ)
        sandbox: Sandbox | None = None
        if args.sandbox:
            from unipush.sandbox import Sandbox

            sandbox = stack.enter_context(Sandbox())
            use_sandbox(settings, sandbox.info())
        rows, source, fmt = select_targets(args, stack, sandbox)
        providers = build_providers(settings)
        return cls(settings, sandbox, rows, source, fmt, providers, frozenset(p.name for p in providers), stack)

    def client(self, *, credential_store: CredentialStore | None = None) -> PushClient:
        """The ``PushClient`` of the settings (with ``credential_store``, if given), closed with the stack."""
        return self.stack.enter_context(build_client(self.settings, self.providers, credential_store=credential_store))

    def where(self, row: Row | BadRow) -> str:
        """Where ``row`` came from, for messages: ``targets.csv line 7``, else its flag (``--apns``) or ``target``."""
        if self.source is None:
            return f"--{row.target.provider}" if isinstance(row, Row) else "target"
        return f"{self.source.name} line {row.line}"

    def unconfigured(self, row: Row) -> CliError | None:
        """The error for a row whose provider has no credentials (it names the settings that would add them)."""
        provider = row.target.provider
        if provider in self.configured:
            return None
        return CliError(f"{self.where(row)}: {self.settings.how_to_configure(provider)}")
