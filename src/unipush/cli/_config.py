"""Credentials and client settings for ``unipush send`` and ``unipush render``.

Every setting can come from a flag, an environment variable or the TOML config file; a flag wins over
the environment, which wins over the file. ``SETTINGS`` is the single table all three sources (and the
reference in ``docs/cli.md``) are built from: the TOML key is the library's own parameter name in the
section's table (``[apns] key_id``), and the environment variable is the flag's name in upper case
with ``UNIPUSH_`` in front (``--apns-key-id`` → ``UNIPUSH_APNS_KEY_ID``).

The config file is ``--config FILE``, else ``$UNIPUSH_CONFIG``, else ``./unipush.toml`` when it exists.
Relative paths in it are relative to the file's own directory, so a config can travel with its keys.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from unipush import ConfigurationError, CredentialStore, Provider, PushClient, RetryPolicy
from unipush.cli._common import docs_url, fail, parse_duration
from unipush.policies import CONFIG_SECTIONS as POLICY_SECTIONS
from unipush.policies import PolicyStore, SendPolicy, policies_from_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "DEFAULT_CONFIG",
    "SECTIONS",
    "SETTINGS",
    "Setting",
    "Settings",
    "add_settings_arguments",
    "load_settings",
    "use_sandbox",
]

DEFAULT_CONFIG = "unipush.toml"
CONFIG_ENV = "UNIPUSH_CONFIG"
SECTIONS = ("apns", "fcm", "webpush", "client")

Kind = Literal["str", "path", "int", "float", "bool"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: ``[section] key`` in TOML, ``flag`` on the command line, ``env`` in the environment.

    ``flag`` is ``None`` for secrets that must not appear in a process list (``ps`` shows argv).
    """

    section: str
    key: str
    flag: str | None
    kind: Kind
    help: str
    choices: tuple[str, ...] = ()
    env_name: str | None = None

    @property
    def env(self) -> str:
        """The environment variable: ``UNIPUSH_`` + the flag name in upper case."""
        if self.env_name is not None:
            return self.env_name
        assert self.flag is not None
        return "UNIPUSH_" + self.flag.removeprefix("--").upper().replace("-", "_")

    @property
    def dest(self) -> str:
        """The argparse attribute name."""
        return f"cfg_{self.section}_{self.key}"

    def sources(self) -> str:
        """Where the setting can be given, for error messages."""
        where = [self.flag] if self.flag else []
        where.append(self.env)
        return f"{', '.join(where)} or [{self.section}] {self.key}"


SETTINGS: tuple[Setting, ...] = (
    Setting("apns", "key", "--apns-key", "path", "APNs token auth: the .p8 signing key (a file path, or PEM text)"),
    Setting("apns", "key_id", "--apns-key-id", "str", "the 10-character Key ID of the .p8 key"),
    Setting("apns", "team_id", "--apns-team-id", "str", "the 10-character Team ID"),
    Setting("apns", "topic", "--apns-topic", "str", "the app's bundle ID (apns-topic)"),
    Setting(
        "apns",
        "environment",
        "--apns-env",
        "str",
        "APNs environment (default production)",
        choices=("production", "sandbox"),
    ),
    Setting("apns", "base_url", "--apns-url", "str", "send APNs requests here instead (a proxy, the sandbox)"),
    Setting("apns", "cert", "--apns-cert", "path", "APNs certificate auth instead of a key: a .p12 or PEM file"),
    Setting("apns", "cert_key", "--apns-cert-key", "path", "the certificate's private key, if not in --apns-cert"),
    Setting(
        "apns",
        "cert_password",
        None,
        "str",
        "password of the .p12 or of the certificate key (environment or config file only)",
        env_name="UNIPUSH_APNS_CERT_PASSWORD",
    ),
    Setting(
        "fcm",
        "service_account",
        "--fcm-service-account",
        "path",
        "FCM: the service account JSON key (a file path, or the JSON text)",
    ),
    Setting(
        "fcm",
        "project_id",
        "--fcm-project-id",
        "str",
        "the Firebase project (default: the service account's); alone, it selects Application Default Credentials",
    ),
    Setting("fcm", "base_url", "--fcm-url", "str", "send FCM requests here instead (a proxy, the sandbox)"),
    Setting("fcm", "token_uri", "--fcm-token-uri", "str", "the OAuth2 token endpoint to use instead of the key's"),
    Setting(
        "webpush",
        "vapid_private_key",
        "--vapid-key",
        "path",
        "Web Push: the VAPID private key (a PEM file, PEM text or base64url raw key)",
    ),
    Setting("webpush", "subject", "--vapid-subject", "str", "the VAPID contact: mailto:you@example.com or https://…"),
    Setting("webpush", "base_url", "--webpush-url", "str", "send Web Push requests to this origin instead"),
    Setting(
        "webpush",
        "default_navigate",
        "--webpush-default-navigate",
        "str",
        "the URL a click opens when the notification has no --link",
    ),
    Setting(
        "webpush",
        "allow_local_endpoints",
        "--webpush-allow-local-endpoints",
        "bool",
        "send to subscriptions on this machine (localhost, 127.x.y.z, [::1]), for local testing; --sandbox sets it",
    ),
    Setting("client", "ca", "--ca", "path", "CA bundle (PEM) to verify the services' TLS certificates with"),
    Setting("client", "timeout", "--timeout", "float", "seconds per request (default 30)"),
    Setting("client", "concurrency", "--concurrency", "int", "most requests in flight at once (default 100)"),
    Setting("client", "max_attempts", "--max-attempts", "int", "attempts per target, retries included (default 4)"),
)

_BY_KEY = {(s.section, s.key): s for s in SETTINGS}

# The settings that say "this provider is configured"; without one of them, the provider is off.
_CREDENTIALS: Mapping[str, tuple[str, ...]] = {
    "apns": ("key", "cert"),
    "fcm": ("service_account", "project_id"),
    "webpush": ("vapid_private_key",),
}

# What --sandbox supplies; the sandbox's own credentials replace these wherever else they were given.
_SANDBOX_KEYS: Mapping[str, tuple[str, ...]] = {
    "apns": ("key", "key_id", "team_id", "topic", "environment", "base_url", "cert", "cert_key", "cert_password"),
    "fcm": ("service_account", "project_id", "base_url", "token_uri"),
    "webpush": ("vapid_private_key", "subject", "base_url", "allow_local_endpoints"),
    "client": ("ca",),
}


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``, ``--sandbox`` and a flag per setting (all default to "not given")."""
    group = parser.add_argument_group(
        "credentials and connection",
        "Each also reads an environment variable (the flag in upper case with UNIPUSH_ in front, e.g. "
        "UNIPUSH_APNS_KEY_ID) and the config file; flags win over the environment, which wins over the file.",
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        help=f"TOML config file (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG} if present)",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="start a local sandbox (APNs, FCM and Web Push emulators) in-process and use its credentials",
    )
    for setting in SETTINGS:
        if setting.flag is None:
            continue
        options: dict[str, Any] = {"dest": setting.dest, "default": None, "help": setting.help}
        if setting.kind == "bool":
            options["action"] = "store_const"
            options["const"] = True
        elif setting.kind == "int":
            options["type"] = int
            options["metavar"] = "N"
        elif setting.kind == "float":
            options["type"] = float
            options["metavar"] = "SECONDS"
        elif setting.choices:
            options["choices"] = setting.choices
        else:
            options["metavar"] = "FILE" if setting.kind == "path" else setting.key.upper()
        group.add_argument(setting.flag, **options)


@dataclass(slots=True)
class Settings:
    """The merged settings: ``values[section][key]`` and where each came from (``origin``)."""

    values: dict[str, dict[str, Any]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    origin: dict[tuple[str, str], str] = field(default_factory=dict)
    config_path: Path | None = None
    policies: list[SendPolicy] = field(default_factory=list)  # from [[policies]]
    policy_store: PolicyStore | None = None  # from [policy_store]

    def get(self, section: str, key: str) -> Any:
        """The value of ``[section] key``, or ``None`` when no source gave it."""
        return self.values[section].get(key)

    def set(self, section: str, key: str, value: Any, origin: str) -> None:
        """Set ``[section] key`` from ``origin`` (a flag, a variable, the file, ``--sandbox``)."""
        self.values[section][key] = value
        self.origin[(section, key)] = origin

    def clear(self, section: str, key: str) -> None:
        """Forget ``[section] key``."""
        self.values[section].pop(key, None)
        self.origin.pop((section, key), None)

    def configured(self) -> list[str]:
        """The providers that have credentials, in the order apns, fcm, webpush."""
        return [name for name, keys in _CREDENTIALS.items() if any(self.get(name, k) is not None for k in keys)]

    def how_to_configure(self, provider: str) -> str:
        """A hint naming the settings that turn ``provider`` on."""
        keys = _CREDENTIALS.get(provider)
        if not keys:
            return f"{provider!r} is not a built-in provider (apns, fcm, webpush)"
        options = " or ".join(f"{k} ({_BY_KEY[(provider, k)].sources()})" for k in keys)
        return f"{provider} is not configured: give its {options}"


def load_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Merge the config file, the environment and the flags in ``args`` (flags win, then env, then file)."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    path = _config_path(args, environ)
    if path is not None:
        settings.config_path = path
        _load_file(settings, path)
    for setting in SETTINGS:
        text = environ.get(setting.env)
        if text is None or text == "":  # an empty variable counts as unset, as in most tools
            continue
        settings.set(setting.section, setting.key, _from_env(setting, text), setting.env)
    for setting in SETTINGS:
        value = getattr(args, setting.dest, None) if setting.flag else None
        if value is not None:
            assert setting.flag is not None
            settings.set(setting.section, setting.key, value, setting.flag)
    return settings


def _config_path(args: argparse.Namespace, environ: Mapping[str, str]) -> Path | None:
    given = getattr(args, "config", None)
    origin = "--config"
    if given is None and environ.get(CONFIG_ENV):
        given, origin = environ[CONFIG_ENV], CONFIG_ENV
    if given is None:
        default = Path(DEFAULT_CONFIG)
        return default if default.is_file() else None
    path = Path(given).expanduser()
    if not path.is_file():
        fail(f"{origin}: config file not found: {given}")
    return path


def _load_file(settings: Settings, path: Path) -> None:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        fail(f"{path}: invalid TOML: {exc}")
    except OSError as exc:
        fail(f"{path}: cannot read the config file: {exc.strerror or exc}")
    base = path.resolve().parent
    try:  # [[policies]] and [policy_store] belong to unipush.policies (docs/policies.md)
        settings.policies, settings.policy_store = policies_from_config(document, str(path), duration=parse_duration)
    except ConfigurationError as exc:
        fail(str(exc))
    for section, table in document.items():
        if section in POLICY_SECTIONS:
            continue
        if section not in SECTIONS:
            fail(f"{path}: unknown section [{section}] (expected {', '.join(f'[{s}]' for s in SECTIONS)})")
        if not isinstance(table, dict):
            fail(f"{path}: {section} must be a table ([{section}])")
        for key, value in table.items():
            setting = _BY_KEY.get((section, key))
            if setting is None:
                known = ", ".join(s.key for s in SETTINGS if s.section == section)
                fail(f"{path}: [{section}] unknown key {key!r} (expected one of: {known})")
            where = f"{path} [{section}] {key}"
            settings.set(section, key, _from_file(setting, value, base, where), where)


def _from_file(setting: Setting, value: object, base: Path, where: str) -> Any:
    if setting.kind == "bool":
        if not isinstance(value, bool):
            fail(f"{where} must be true or false, got {value!r}")
        return value
    if setting.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            fail(f"{where} must be an integer, got {value!r}")
        return value
    if setting.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(f"{where} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        fail(f"{where} must be a string, got {type(value).__name__}")
    _check_choice(setting, value, where)
    if setting.kind == "path":
        return _relative_to(value, base)
    return value


def _relative_to(value: str, base: Path) -> str:
    """A path in the config file, relative to the file's directory; key material is left alone.

    Path settings also accept PEM text, JSON text and base64url keys, none of which contain a file
    extension; so a value names a file when it exists next to the config or has an extension.
    """
    stripped = value.lstrip()
    if stripped.startswith(("-----BEGIN", "{")):
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    candidate = base / path
    if candidate.exists() or path.suffix:
        return str(candidate)
    return value


def _from_env(setting: Setting, text: str) -> Any:
    if setting.kind == "bool":
        flag = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(text.lower())
        if flag is None:
            fail(f"{setting.env} must be 1/true/yes or 0/false/no, got {text!r}")
        return flag
    if setting.kind == "int":
        try:
            return int(text)
        except ValueError:
            fail(f"{setting.env} must be an integer, got {text!r}")
    if setting.kind == "float":
        try:
            return float(text)
        except ValueError:
            fail(f"{setting.env} must be a number, got {text!r}")
    _check_choice(setting, text, setting.env)
    return text


def _check_choice(setting: Setting, value: str, where: str) -> None:
    if setting.choices and value not in setting.choices:
        fail(f"{where} must be one of {', '.join(setting.choices)}, got {value!r}")


def use_sandbox(settings: Settings, info: Mapping[str, Any]) -> None:
    """Replace every credential, base URL and the CA with those of a running sandbox (``Sandbox.info()``)."""
    for section, keys in _SANDBOX_KEYS.items():
        for key in keys:
            settings.clear(section, key)
    given = {
        ("apns", "key"): info["apns_key_path"],
        ("apns", "key_id"): info["apns_key_id"],
        ("apns", "team_id"): info["apns_team_id"],
        ("apns", "topic"): info["apns_topic"],
        ("apns", "environment"): "sandbox",
        ("apns", "base_url"): info["apns_url"],
        ("fcm", "service_account"): info["fcm_service_account_path"],
        ("fcm", "base_url"): info["fcm_url"],
        ("webpush", "vapid_private_key"): info["webpush_vapid_private_key_path"],
        ("webpush", "subject"): info["webpush_subject"],
        ("webpush", "base_url"): info["webpush_url"],
        ("webpush", "allow_local_endpoints"): True,  # its subscriptions are on 127.0.0.1
        ("client", "ca"): info["ca_path"],
    }
    for (section, key), value in given.items():
        settings.set(section, key, value, "--sandbox")


def _kwargs(settings: Settings, section: str, keys: Iterable[str]) -> dict[str, Any]:
    return {k: settings.get(section, k) for k in keys if settings.get(section, k) is not None}


def _require(settings: Settings, section: str, key: str, why: str) -> None:
    if settings.get(section, key) is None:
        fail(f"{section}: {key} is required {why} (give {_BY_KEY[(section, key)].sources()})")


def _check_sections(settings: Settings) -> None:
    """Provider settings given for this run (a flag, the config file) without credentials are a mistake.

    Environment variables are left out: they are ambient, and a shell may well set a provider's
    options for runs that do not use it.
    """
    for provider, keys in _CREDENTIALS.items():
        if any(settings.get(provider, k) is not None for k in keys):
            continue
        origins = (settings.origin[(provider, k)] for k in settings.values[provider])
        stray = sorted(o for o in origins if not o.startswith("UNIPUSH_"))
        if stray:
            fail(f"{', '.join(stray)} given, but {settings.how_to_configure(provider)}")


def _check_client(settings: Settings) -> None:
    for key, least, what in (("max_attempts", 1, "at least 1"), ("concurrency", 1, "at least 1")):
        value = settings.get("client", key)
        if value is not None and value < least:
            fail(f"{settings.origin[('client', key)]}: {key.replace('_', ' ')} must be {what}, got {value}")
    timeout = settings.get("client", "timeout")
    if timeout is not None and timeout <= 0:
        fail(f"{settings.origin[('client', 'timeout')]}: timeout must be more than 0 seconds, got {timeout}")


def build_providers(settings: Settings) -> list[Provider]:
    """The provider configs the settings describe; raises ``CliError``/``ConfigurationError`` naming the gap."""
    from unipush.apns import APNs
    from unipush.fcm import FCM
    from unipush.webpush import WebPush

    _check_sections(settings)
    _check_client(settings)
    providers: list[Provider] = []
    configured = settings.configured()
    if "apns" in configured:
        if settings.get("apns", "key") is not None:
            for key in ("key_id", "team_id"):
                _require(settings, "apns", key, "with an APNs key")
        _require(settings, "apns", "topic", "for APNs")
        keys: tuple[str, ...] = _SANDBOX_KEYS["apns"]  # every [apns] setting
        providers.append(APNs(**_kwargs(settings, "apns", keys)))
    if "fcm" in configured:
        providers.append(FCM(**_kwargs(settings, "fcm", ("service_account", "project_id", "base_url", "token_uri"))))
    if "webpush" in configured:
        _require(settings, "webpush", "subject", "for Web Push (VAPID)")
        keys = ("vapid_private_key", "subject", "base_url", "default_navigate", "allow_local_endpoints")
        providers.append(WebPush(**_kwargs(settings, "webpush", keys)))
    return providers


def build_client(
    settings: Settings, providers: list[Provider], *, credential_store: CredentialStore | None = None
) -> PushClient:
    """A ``PushClient`` for ``providers`` with the ``[client]`` settings (and ``credential_store``, if given)."""
    if not providers:
        fail(
            "no provider configured: give credentials as flags, environment variables or in unipush.toml "
            f"(see {docs_url('cli')}), or add --sandbox to try things locally"
        )
    attempts = settings.get("client", "max_attempts")
    concurrency = settings.get("client", "concurrency")
    timeout = settings.get("client", "timeout")
    return PushClient(
        providers=providers,
        verify=settings.get("client", "ca"),
        timeout=30.0 if timeout is None else timeout,
        concurrency=100 if concurrency is None else concurrency,
        retry=RetryPolicy() if attempts is None else RetryPolicy(max_attempts=attempts),
        credential_store=credential_store,
        policies=settings.policies,
        policy_store=settings.policy_store,
    )
