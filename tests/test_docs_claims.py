"""Issue 8, item 12: what the docs say about a behaviour is checked against the behaviour.

``tests/test_docs.py`` runs the code blocks; these tests hold the prose to the code where a sentence
(not a block) made the claim that was wrong: docs/fcm.md on refused FCM credentials, docs/webpush.md on
loopback endpoints, docs/cli.md on ``--image``, docs/sandbox.md on making subscriptions without Python.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.cli.support import assert_one_line_error, cli_sandbox, flags, isolate, run
from unipush import AuthenticationError, Notification, PushClient, ValidationError
from unipush.sandbox import Sandbox
from unipush.webpush import WebPush, WebPushSubscription, generate_vapid_keys

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _paragraph(page: str, containing: str) -> str:
    """The blank-line-separated paragraph of ``docs/<page>`` that contains ``containing``."""
    paragraphs = re.split(r"\n\s*\n", (DOCS / page).read_text(encoding="utf-8"))
    found = [p for p in paragraphs if containing in p]
    assert len(found) == 1, f"{page}: {len(found)} paragraphs mention {containing!r}"
    return " ".join(found[0].split())


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with cli_sandbox() as sandbox:
        yield sandbox


def test_fcm_doc_on_refused_credentials_says_what_send_does(sandbox: Sandbox) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    account = json.loads(sandbox.fcm.service_account_path.read_text())
    account["private_key"] = other_key.decode()
    with sandbox.client(fcm=sandbox.fcm_config(service_account=account)) as client:
        result = client.send(Notification(title="Hi"), sandbox.fcm_device())  # a raise fails the test here
    assert isinstance(result.error, AuthenticationError)
    text = _paragraph("fcm.md", "If the token endpoint refuses the credentials")
    assert "`send()` returns it, it does not raise" in text
    assert "Known issue" not in (DOCS / "fcm.md").read_text(encoding="utf-8")
    assert not re.search(r"`send\(\)` raises", text)


def test_webpush_doc_on_loopback_matches_the_code() -> None:
    text = _paragraph("webpush.md", "**Loopback**")
    assert "refused when it is sent" in text
    assert "allow_local_endpoints=True" in text
    key = generate_vapid_keys()
    default = WebPush(vapid_private_key=key.private_key_pem, subject="mailto:ops@example.com")
    local = WebPush(vapid_private_key=key.private_key_pem, subject="mailto:ops@example.com", allow_local_endpoints=True)
    # Each form the paragraph names, with http:// and https://.
    for host in ("127.0.0.1", "127.8.9.10", "[::1]", "localhost", "push.localhost"):
        for scheme in ("http", "https"):
            subscription = WebPushSubscription(f"{scheme}://{host}:8080/s/1", key.public_key, "tBHItJI5svbpez7KI4CCXg")
            with PushClient(webpush=default) as client, pytest.raises(ValidationError) as info:
                client.render(Notification(title="Hi"), subscription)
            assert info.value.field == "endpoint"
            with PushClient(webpush=local) as client:
                assert client.render(Notification(title="Hi"), subscription).url.startswith(f"{scheme}://{host}")


def test_cli_doc_on_image_matches_the_cli(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    row = next(line for line in (DOCS / "cli.md").read_text(encoding="utf-8").splitlines() if "`--image URL`" in line)
    assert "https URLs" in row
    assert "`http://` one is refused" in row
    isolate(monkeypatch, tmp_path)
    target = ["--apns", sandbox.apns_device().token, *flags(sandbox.info())]
    code, out, err = run(capsys, "render", "--title", "x", "--image", "http://cdn.example/box.png", *target)
    assert code == 2, out
    assert_one_line_error(err, "--image")
    code, out, err = run(capsys, "render", "--title", "x", "--image", "https://cdn.example/box.png", *target)
    assert code == 0, err


def test_sandbox_doc_on_subscriptions_from_other_programs(sandbox: Sandbox) -> None:
    text = (DOCS / "sandbox.md").read_text(encoding="utf-8")
    assert "has no way to make them" not in text
    assert "`webpush_subscribe_url`" in _paragraph("sandbox.md", "POST` to `webpush_subscribe_url`")
    # Every key of `unipush sandbox --json` (Sandbox.info()) is in the documented table.
    table = _paragraph("sandbox.md", "| `ca_path` | the CA certificate (PEM)")
    names = set(re.findall(r"`([a-z_]+)`", table))
    assert set(sandbox.info()) <= names, set(sandbox.info()) - names
    # And what the paragraph says POST /subscribe does, it does.
    key = generate_vapid_keys()
    trust = ssl.create_default_context(cafile=str(sandbox.ca_path))
    with httpx.Client(verify=trust) as http:
        plain = http.post(sandbox.info()["webpush_subscribe_url"])
        bound = http.post(sandbox.info()["webpush_subscribe_url"], json={"application_server_key": key.public_key})
        bad = http.post(sandbox.info()["webpush_subscribe_url"], json={"application_server_key": "AAAA"})
    assert plain.status_code == 201
    assert sorted(plain.json()) == ["endpoint", "expirationTime", "keys"]
    assert bad.status_code == 400
    assert "BadVapidPublicKey" in bad.text
    subscription = WebPushSubscription.from_dict(bound.json())
    mine = WebPush(
        vapid_private_key=key.private_key_pem,
        subject="mailto:ops@example.com",
        base_url=sandbox.webpush_url,
        allow_local_endpoints=True,
    )
    with PushClient(webpush=mine, verify=sandbox.ssl_context()) as client:
        assert client.send(Notification(title="Hi"), subscription).ok
