"""``unipush vapid generate``: the key loads, the public key matches, the file is private, and it works."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.cli.support import assert_one_line_error, cli_sandbox, isolate, run
from unipush.webpush import load_vapid_private_key
from unipush.webpush._crypto import b64url_decode, b64url_encode


def _public_key_of(pem: str) -> str:
    """The applicationServerKey of a PEM private key: base64url of the uncompressed point (RFC 8292 §3.2)."""
    point = (
        load_vapid_private_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64url_encode(point)


def test_generate_to_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate(monkeypatch, tmp_path)
    code, out, err = run(capsys, "vapid", "generate", "--out", "vapid.pem")
    assert code == 0
    public_key = out.strip()
    assert out == public_key + "\n"  # stdout is the applicationServerKey alone: KEY=$(unipush vapid generate ...)
    assert "vapid.pem" in err
    path = tmp_path / "vapid.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem = path.read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert _public_key_of(pem) == public_key
    raw = b64url_decode(public_key)
    assert len(raw) == 65
    assert raw[0] == 0x04

    # Never overwritten by accident; --force replaces it (and keeps it private).
    code, _, err = run(capsys, "vapid", "generate", "--out", "vapid.pem")
    assert code == 2
    assert_one_line_error(err, "vapid.pem exists; pass --force")
    assert path.read_text() == pem
    path.chmod(0o644)
    code, out, _ = run(capsys, "vapid", "generate", "--out", "vapid.pem", "--force")
    assert code == 0
    assert _public_key_of(path.read_text()) == out.strip() != public_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_generate_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "vapid", "generate")
    assert code == 0
    pem, _, last = out.rstrip("\n").rpartition("\n")
    assert last.startswith("applicationServerKey: ")
    assert _public_key_of(pem + "\n") == last.removeprefix("applicationServerKey: ")
    # Redirected to a file as it is, the output is still a loadable key (text after the PEM is ignored).
    assert _public_key_of(out) == last.removeprefix("applicationServerKey: ")


def test_generate_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    isolate(monkeypatch, tmp_path)
    code, out, _ = run(capsys, "vapid", "generate", "--json")
    assert code == 0
    document = json.loads(out)
    assert _public_key_of(document["private_key_pem"]) == document["application_server_key"]
    code, out, _ = run(capsys, "vapid", "generate", "--json", "--out", "k.pem")
    document = json.loads(out)
    assert document["private_key_path"] == "k.pem"
    assert "private_key_pem" not in document
    assert _public_key_of((tmp_path / "k.pem").read_text()) == document["application_server_key"]


def test_a_generated_key_sends_web_push(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate(monkeypatch, tmp_path)
    _, out, _ = run(capsys, "vapid", "generate", "--out", "mine.pem")
    with cli_sandbox() as sandbox:
        # A browser subscribed with our applicationServerKey; the push service checks the VAPID key against it.
        sub = sandbox.subscribe(application_server_key=out.strip())
        info = sandbox.info()
        code, out, err = run(
            capsys, "send", "--title", "mine", "--link", "https://example.com/", "--webpush", json.dumps(sub.to_dict()),
            "--vapid-key", "mine.pem", "--vapid-subject", "mailto:ops@example.com",
            "--webpush-url", info["webpush_url"], "--webpush-allow-local-endpoints", "--ca", info["ca_path"],
        )  # fmt: skip
        assert code == 0, out + err
        [delivery] = sandbox.inbox.for_target(sub.endpoint)
    assert delivery.payload["notification"]["title"] == "mine"  # type: ignore[index]


def test_vapid_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "vapid")
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "required", "ACTION")
