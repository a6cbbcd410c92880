"""Helpers for the ``unipush`` command-line tests: a sandbox's credentials as flags, environment or TOML."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from unipush.cli import main
from unipush.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def cli_sandbox() -> Iterator[Sandbox]:
    """A sandbox for CLI tests.

    APNs (like the emulator) refuses a new provider token for a key less than 20 minutes after the
    previous one. ``unipush send`` shares its token through a ``FileStore``, but ``render`` and
    ``--dry-run`` sign theirs in memory, and these tests mix them against one sandbox: the rule is off
    here (tests/test_credentials.py runs the CLI with it on).
    """
    with Sandbox() as sandbox:
        sandbox.apns.token_update_interval = 0
        yield sandbox


def flags(info: Mapping[str, Any]) -> list[str]:
    """Credential flags for all three sandbox services."""
    return [
        "--apns-key", info["apns_key_path"],
        "--apns-key-id", info["apns_key_id"],
        "--apns-team-id", info["apns_team_id"],
        "--apns-topic", info["apns_topic"],
        "--apns-env", "sandbox",
        "--apns-url", info["apns_url"],
        "--fcm-service-account", info["fcm_service_account_path"],
        "--fcm-url", info["fcm_url"],
        "--vapid-key", info["webpush_vapid_private_key_path"],
        "--vapid-subject", info["webpush_subject"],
        "--webpush-url", info["webpush_url"],
        "--webpush-allow-local-endpoints",  # the sandbox's subscriptions are on 127.0.0.1
        "--ca", info["ca_path"],
    ]  # fmt: skip


def env(info: Mapping[str, Any]) -> dict[str, str]:
    """The same credentials as environment variables."""
    return {
        "UNIPUSH_APNS_KEY": info["apns_key_path"],
        "UNIPUSH_APNS_KEY_ID": info["apns_key_id"],
        "UNIPUSH_APNS_TEAM_ID": info["apns_team_id"],
        "UNIPUSH_APNS_TOPIC": info["apns_topic"],
        "UNIPUSH_APNS_ENV": "sandbox",
        "UNIPUSH_APNS_URL": info["apns_url"],
        "UNIPUSH_FCM_SERVICE_ACCOUNT": info["fcm_service_account_path"],
        "UNIPUSH_FCM_URL": info["fcm_url"],
        "UNIPUSH_VAPID_KEY": info["webpush_vapid_private_key_path"],
        "UNIPUSH_VAPID_SUBJECT": info["webpush_subject"],
        "UNIPUSH_WEBPUSH_URL": info["webpush_url"],
        "UNIPUSH_WEBPUSH_ALLOW_LOCAL_ENDPOINTS": "1",
        "UNIPUSH_CA": info["ca_path"],
    }


def toml(info: Mapping[str, Any], **paths: str) -> str:
    """The same credentials as a unipush.toml; ``paths`` replace the file paths (relative ones, say)."""
    values = {
        "apns_key_path": info["apns_key_path"],
        "fcm_service_account_path": info["fcm_service_account_path"],
        "webpush_vapid_private_key_path": info["webpush_vapid_private_key_path"],
        "ca_path": info["ca_path"],
        **paths,
    }
    return f"""
[apns]
key = "{values["apns_key_path"]}"
key_id = "{info["apns_key_id"]}"
team_id = "{info["apns_team_id"]}"
topic = "{info["apns_topic"]}"
environment = "sandbox"
base_url = "{info["apns_url"]}"

[fcm]
service_account = "{values["fcm_service_account_path"]}"
base_url = "{info["fcm_url"]}"

[webpush]
vapid_private_key = "{values["webpush_vapid_private_key_path"]}"
subject = "{info["webpush_subject"]}"
base_url = "{info["webpush_url"]}"
allow_local_endpoints = true

[client]
ca = "{values["ca_path"]}"
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``unipush`` in-process; returns (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    """``err`` is exactly one ``unipush: error: ...`` line, without a traceback, holding ``fragments``."""
    assert err.startswith("unipush: error: "), err
    assert err.count("\n") == 1, err
    assert err.endswith("\n"), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a ``unipush`` subprocess: no UNIPUSH_* from the outside, warnings are errors."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("UNIPUSH_")}
    return {**clean, "PYTHONWARNINGS": "error", **extra}


PYTHON = sys.executable


def isolate(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Run in ``directory`` (no stray ./unipush.toml) with no UNIPUSH_* variables from the outside."""
    monkeypatch.chdir(directory)
    for name in list(os.environ):
        if name.startswith("UNIPUSH_"):
            monkeypatch.delenv(name)
