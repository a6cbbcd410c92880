"""``unipush render``: JSON (redacted unless --reveal) and curl command lines that really work."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import assert_one_line_error, cli_sandbox, flags, isolate, run
from unipush._results import PreparedRequest
from unipush.apns import ApnsDevice
from unipush.cli.render import curl_command
from unipush.sandbox import Sandbox


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with cli_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(module_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sandbox:
    isolate(monkeypatch, tmp_path)
    module_sandbox.inbox.clear()
    return module_sandbox


@pytest.fixture
def info(sandbox: Sandbox) -> dict[str, Any]:
    return sandbox.info()


def _documents(text: str) -> list[dict[str, Any]]:
    """The JSON documents of a stream (indented ones one after another)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        document, index = decoder.raw_decode(text, index)
        found.append(document)
    return found


def _curl_has_http2() -> bool:
    curl = shutil.which("curl")
    if curl is None:
        return False
    features = subprocess.run([curl, "-V"], capture_output=True, text=True, check=False).stdout
    return "HTTP2" in features


needs_curl = pytest.mark.skipif(not _curl_has_http2(), reason="needs curl built with HTTP/2 (nghttp2)")


def test_json_is_redacted_unless_reveal(
    sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    token = "ab" * 32
    code, out, err = run(capsys, "render", "--title", "Hi", "--apns", token, "--fcm-topic", "news", *flags(info))
    assert code == 0, err
    apns, fcm = _documents(out)
    assert apns["target"] == token
    assert apns["provider"] == "apns"
    assert apns["method"] == "POST"
    assert apns["url"] == f"{info['apns_url']}/3/device/{token}"
    assert apns["headers"]["authorization"] == "<redacted>"
    assert apns["payload"] == {"aps": {"alert": {"title": "Hi"}}}
    assert apns["body_bytes"] == len(json.dumps(apns["payload"], separators=(",", ":")))
    assert "body_base64" not in apns  # the body is the payload's JSON
    assert fcm["credential_pending"] is True
    assert "authorization" not in fcm["headers"]
    assert len(sandbox.inbox) == 0  # nothing sent

    code, out, err = run(
        capsys, "render", "--title", "Hi", "--apns", token, "--fcm-topic", "news", "--reveal", "--compact", *flags(info)
    )
    assert code == 0, err
    apns, fcm = (json.loads(line) for line in out.splitlines())
    assert apns["headers"]["authorization"].startswith("bearer ey")
    assert fcm["headers"]["authorization"].startswith("Bearer ")  # fetched from the sandbox's token endpoint
    assert "credential_pending" not in fcm


def test_web_push_json_has_the_encrypted_body(
    sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sub = sandbox.subscribe()
    code, out, err = run(
        capsys, "render", "--title", "Hi", "--link", "https://example.com/", "--webpush", json.dumps(sub.to_dict()),
        *flags(info),
    )  # fmt: skip
    assert code == 0, err
    [view] = _documents(out)
    assert view["payload"]["notification"]["title"] == "Hi"
    assert view["headers"]["content-encoding"] == "aes128gcm"
    assert len(base64.b64decode(view["body_base64"])) == view["body_bytes"]


@needs_curl
def test_curl_commands_run_and_deliver(
    sandbox: Sandbox, info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apns, fcm, sub = sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()
    title = 'Bob\'s "quoted" $HOME `news`'  # shell metacharacters survive the quoting
    code, out, err = run(
        capsys, "render", "--curl", "--reveal", "--title", title, "--link", "https://example.com/",
        "--apns", apns.token, f"--fcm={fcm.token}", "--webpush", json.dumps(sub.to_dict()), *flags(info),
    )  # fmt: skip
    assert code == 0, err
    assert err == ""
    commands = [block for block in out.split("\n\n") if block.strip()]
    assert len(commands) == 3
    assert "--http2" in commands[0]
    assert "--http2" not in commands[1]
    assert commands[2].startswith("printf %s ")
    assert "| base64 -d | curl " in commands[2]
    for command in commands:
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path, check=False)
        assert done.returncode == 0, done.stderr
        status = done.stdout.splitlines()[0]
        assert status.split()[1] in ("200", "201"), done.stdout
    received = {d.provider: d.payload for d in sandbox.inbox}
    assert received["apns"]["aps"]["alert"]["title"] == title  # type: ignore[index]
    assert received["fcm"]["notification"]["title"] == title  # type: ignore[index]
    # The sandbox decrypted the Web Push body with the subscription's keys: the bytes went out exactly.
    assert received["webpush"]["notification"]["title"] == title  # type: ignore[index]


def test_curl_without_reveal_is_redacted_and_says_so(
    sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "render", "--curl", "--title", "Hi", "--fcm", "t" * 40, *flags(info))
    assert code == 0
    assert "-H 'authorization: <redacted>'" in out
    assert err == "unipush: note: credentials are shown as <redacted>; add --reveal for a runnable command\n"


def test_curl_command_details() -> None:
    request = PreparedRequest(
        provider="apns",
        target=ApnsDevice("ab" * 32),
        method="POST",
        url="https://api.example/3/device/x",
        headers={"apns-topic": "a.b", "x-empty": ""},
        body=b'{"a":"it\'s"}',
    )
    command = curl_command(request, ca="/tmp/ca file.pem")
    assert command.splitlines()[0] == (
        "curl -sS -i --http2 --cacert '/tmp/ca file.pem' -X POST https://api.example/3/device/x \\"
    )
    assert "-H 'x-empty;'" in command  # curl's syntax for an empty header
    assert "-H content-type:" in command  # no content-type given: curl must not add its own
    assert command.endswith("""--data-binary '{"a":"it'"'"'s"}'""")
    # A body curl would read as a file name goes through the base64 pipe instead.
    at_body = PreparedRequest(
        provider="x", target=ApnsDevice("ab" * 32), method="POST", url="https://h/", headers={}, body=b"@etc"
    )
    assert curl_command(at_body).startswith(f"printf %s {base64.b64encode(b'@etc').decode()} | base64 -d | curl")


def test_render_file_targets_and_bad_rows(
    sandbox: Sandbox, info: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = tmp_path / "t.jsonl"
    targets.write_text(f'{{"provider": "apns", "token": "{"ab" * 32}"}}\n{{"provider": "apns", "token": "zz"}}\n')
    code, out, err = run(capsys, "render", "--title", "Hi", "--file", str(targets), "--compact", *flags(info))
    assert code == 2
    assert len(out.splitlines()) == 1
    assert_one_line_error(err, f"{targets} line 2: token: must be hexadecimal")


def test_render_error_for_a_notification_a_provider_refuses(
    sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sub = sandbox.subscribe()
    code, out, err = run(capsys, "render", "--body", "Hi", "--webpush", json.dumps(sub.to_dict()), *flags(info))
    assert code == 2
    assert out == ""
    assert_one_line_error(err, "target (webpush):", "--title: is required")


def test_a_token_starting_with_a_dash_uses_the_equals_form(
    sandbox: Sandbox, info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    token = "-d8Xk" + "a" * 40  # FCM tokens are base64url: some start with "-"
    code, out, err = run(capsys, "render", "--title", "x", f"--fcm={token}", "--compact", *flags(info))
    assert code == 0, err
    assert json.loads(out)["payload"]["message"]["token"] == token
