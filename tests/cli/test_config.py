"""Credentials for the CLI from flags, environment variables and unipush.toml, and their precedence."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import ROOT, assert_one_line_error, cli_sandbox, env, flags, isolate, run, toml
from unipush.cli._config import SETTINGS, add_settings_arguments, load_settings
from unipush.sandbox import Sandbox
from unipush.webpush import generate_vapid_keys

# Nothing listens on port 9 of this machine (the discard service is not run): sends there fail fast.
DEAD_URL = "https://127.0.0.1:9"


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with cli_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(module_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sandbox:
    isolate(monkeypatch, tmp_path)
    module_sandbox.inbox.clear()
    return module_sandbox


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return parser.parse_args(argv)


def test_flags_win_over_environment_which_wins_over_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)
    (tmp_path / "unipush.toml").write_text(
        '[apns]\ntopic = "from.file"\nkey_id = "FILE000000"\nteam_id = "FILE000000"\n[client]\nconcurrency = 5\n'
    )
    environ = {"UNIPUSH_APNS_TOPIC": "from.env", "UNIPUSH_APNS_KEY_ID": "ENV0000000", "UNIPUSH_CONCURRENCY": "7"}
    settings = load_settings(_parse(["--apns-topic", "from.flag"]), environ)
    assert settings.get("apns", "topic") == "from.flag"  # flag > env > file
    assert settings.get("apns", "key_id") == "ENV0000000"  # env > file
    assert settings.get("apns", "team_id") == "FILE000000"  # file alone
    assert settings.get("client", "concurrency") == 7  # typed from the environment
    assert settings.origin[("apns", "topic")] == "--apns-topic"
    assert settings.origin[("apns", "key_id")] == "UNIPUSH_APNS_KEY_ID"
    assert settings.origin[("apns", "team_id")] == "unipush.toml [apns] team_id"
    assert settings.config_path == Path("unipush.toml")


def test_precedence_end_to_end(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """File: a wrong key id and a dead URL; environment: the right key id and a dead URL; flag: the right URL."""
    info = sandbox.info()
    config = toml(info).replace(f'key_id = "{info["apns_key_id"]}"', 'key_id = "WRONG00000"')
    config = config.replace(info["apns_url"], DEAD_URL)
    (tmp_path / "unipush.toml").write_text(config)
    monkeypatch.setenv("UNIPUSH_APNS_KEY_ID", info["apns_key_id"])
    monkeypatch.setenv("UNIPUSH_APNS_URL", DEAD_URL)
    device = sandbox.apns_device()
    code, out, err = run(capsys, "send", "--title", "layers", "--apns", device.token, "--apns-url", info["apns_url"])
    assert code == 0, out + err
    assert sandbox.inbox.for_target(device.token)

    # Without the flag the environment's dead URL is used, and the send fails (exit 1).
    code, out, _ = run(capsys, "send", "--title", "layers", "--apns", device.token, "--max-attempts", "1")
    assert code == 1
    assert "0 sent, 1 failed" in out
    assert "TransportError" in out
    # Without the variable too, the file's key id is used: APNs refuses the token.
    monkeypatch.delenv("UNIPUSH_APNS_KEY_ID")
    code, out, _ = run(capsys, "send", "--title", "layers", "--apns", device.token, "--apns-url", info["apns_url"])
    assert code == 1
    assert "InvalidProviderToken" in out


def test_config_file_paths_are_relative_to_the_file(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = sandbox.info()
    keys = tmp_path / "deploy" / "keys"
    keys.mkdir(parents=True)
    names = ("apns_key_path", "fcm_service_account_path", "webpush_vapid_private_key_path", "ca_path")
    for name in names:
        shutil.copy(info[name], keys / Path(info[name]).name)
    relative = {name: f"keys/{Path(info[name]).name}" for name in names}
    (tmp_path / "deploy" / "push.toml").write_text(toml(info, **relative))
    device = sandbox.fcm_device()
    # Run from elsewhere: the config's relative paths still resolve next to it.
    code, _out, err = run(capsys, "send", "--title", "rel", f"--fcm={device.token}", "--config", "deploy/push.toml")
    assert code == 0, err
    assert sandbox.inbox.for_target(device.token)


def test_unipush_config_variable_names_the_file(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "elsewhere.toml").write_text(toml(sandbox.info()))
    monkeypatch.setenv("UNIPUSH_CONFIG", str(tmp_path / "elsewhere.toml"))
    device = sandbox.apns_device()
    code, _, err = run(capsys, "send", "--title", "cfg", "--apns", device.token)
    assert code == 0, err


def test_credentials_as_flags_env_or_file_all_work(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = sandbox.info()
    sub = sandbox.subscribe()
    common = ["send", "--title", "t", "--link", "https://example.com/", "--webpush", json.dumps(sub.to_dict())]
    assert run(capsys, *common, *flags(info))[0] == 0
    for name, value in env(info).items():
        monkeypatch.setenv(name, value)
    assert run(capsys, *common)[0] == 0
    for name in env(info):
        monkeypatch.delenv(name)
    (tmp_path / "unipush.toml").write_text(toml(info))
    assert run(capsys, *common)[0] == 0
    assert len(sandbox.inbox.for_target(sub.endpoint)) == 3


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        ("[apns\n", ["unipush.toml: invalid TOML"]),
        ("[pigeon]\nkey = 1\n", ["unknown section [pigeon]"]),
        ('[apns]\nkeyid = "x"\n', ["[apns] unknown key 'keyid'", "key_id"]),
        ('[client]\nconcurrency = "many"\n', ["unipush.toml [client] concurrency must be an integer"]),
        ("[client]\ntimeout = true\n", ["[client] timeout must be a number"]),
        ("[apns]\ntopic = 3\n", ["[apns] topic must be a string"]),
        ('[apns]\nenvironment = "staging"\n', ["[apns] environment must be one of production, sandbox"]),
        ("apns = 1\n", ["apns must be a table"]),
        ('[webpush]\nsubject = "mailto:a@example.com"\n', ["given, but webpush is not configured"]),
        ('[client]\ntimeout = 0\n[fcm]\nproject_id = "p"\n', ["timeout must be more than 0 seconds"]),
    ],
)
def test_bad_config_files(
    config: str,
    fragments: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    isolate(monkeypatch, tmp_path)
    (tmp_path / "unipush.toml").write_text(config)
    code, _, err = run(capsys, "send", "--title", "x", "--fcm", "t" * 40)
    assert code == 2
    assert_one_line_error(err, *fragments)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("UNIPUSH_CONCURRENCY", "lots", "UNIPUSH_CONCURRENCY must be an integer, got 'lots'"),
        ("UNIPUSH_TIMEOUT", "soon", "UNIPUSH_TIMEOUT must be a number"),
        ("UNIPUSH_APNS_ENV", "dev", "UNIPUSH_APNS_ENV must be one of production, sandbox"),
    ],
)
def test_bad_environment_values(
    name: str,
    value: str,
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "send", "--title", "x", "--sandbox")
    assert code == 2
    assert_one_line_error(err, fragment)


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)
    settings = load_settings(_parse([]), {"UNIPUSH_APNS_TOPIC": "", "UNIPUSH_FCM_PROJECT_ID": "p"})
    assert settings.get("apns", "topic") is None
    assert settings.configured() == ["fcm"]


def test_sandbox_replaces_provider_settings_but_keeps_the_others(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate(monkeypatch, tmp_path)
    # Production-looking settings in the environment must not leak into a --sandbox run.
    monkeypatch.setenv("UNIPUSH_APNS_URL", DEAD_URL)
    monkeypatch.setenv("UNIPUSH_APNS_KEY", "/nonexistent/AuthKey.p8")
    monkeypatch.setenv("UNIPUSH_WEBPUSH_DEFAULT_NAVIGATE", "https://example.com/home")
    code, out, err = run(capsys, "send", "--sandbox", "--title", "hi")  # no --link: the default applies
    assert code == 0, out + err
    assert '"navigate": "https://example.com/home"' in out


def test_docs_list_every_setting() -> None:
    """docs/cli.md's reference names every flag, variable and TOML key the code knows, and no others."""
    text = (ROOT / "docs" / "cli.md").read_text()
    for setting in SETTINGS:
        assert setting.env in text, setting.env
        if setting.flag:
            assert setting.flag in text, setting.flag
        assert re.search(rf"^\|[^|\n]*`\[{setting.section}\] {setting.key}`", text, re.M), setting.key
    documented = set(re.findall(r"`(UNIPUSH_[A-Z_]+)`", text))
    assert documented == {s.env for s in SETTINGS} | {"UNIPUSH_CONFIG"}


def test_provider_options_in_the_environment_without_credentials_are_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("UNIPUSH_APNS_ENV", "sandbox")  # a shell-wide default, for runs that use APNs
    (tmp_path / "vapid.pem").write_text(generate_vapid_keys().private_key_pem)
    web = ["--vapid-key", "vapid.pem", "--vapid-subject", "mailto:ops@example.com"]
    code, _, err = run(capsys, "render", "--title", "x", "--apns", "ab" * 32, *web)
    assert code == 2
    assert_one_line_error(err, "--apns: apns is not configured")  # not "UNIPUSH_APNS_ENV given, but ..."
