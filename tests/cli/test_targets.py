"""Reading targets files for the CLI: formats, columns, bad rows, and reading lazily."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Literal

import pytest

from tests.support import subscription
from unipush.apns import ApnsDevice
from unipush.cli._common import CliError
from unipush.cli._targets import BadRow, InvalidTokenWriter, Row, TargetFile, flag_targets
from unipush.fcm import FcmCondition, FcmDevice, FcmTopic

SUB = subscription()
TOKEN = "ab" * 32


def _read(path: Path, fmt: Literal["csv", "jsonl"] | None = None) -> list[Row | BadRow]:
    with TargetFile(str(path), fmt) as source:
        return list(source)


def test_csv_columns_in_any_order_and_case(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(
        (
            "\ufeffUser_ID, Token ,Provider,Topic,Condition,Endpoint,P256DH,Auth\n"  # a BOM, as Excel writes
            f"1,{TOKEN},APNS,,,,,\n"
            f"2,{'f' * 40},fcm,,,,,\n"
            "3,,fcm,news,,,,\n"
            "4,,fcm,,'a' in topics,,,\n"
            f"5,,,,,{SUB.endpoint},{SUB.p256dh},{SUB.auth}\n"  # no provider, an endpoint: webpush
        ).encode()
    )
    rows = _read(path)
    assert all(isinstance(r, Row) for r in rows)
    targets = [r.target for r in rows if isinstance(r, Row)]
    assert targets == [ApnsDevice(TOKEN), FcmDevice("f" * 40), FcmTopic("news"), FcmCondition("'a' in topics"), SUB]
    assert [r.line for r in rows] == [2, 3, 4, 5, 6]
    assert rows[0].raw == ["1", TOKEN, "APNS", "", "", "", "", ""]


def test_csv_fcm_condition_and_quoted_fields(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("provider,condition,note\nfcm,\"'a' in topics && 'b' in topics\",\"two\nlines\"\n")
    [row] = _read(path)
    assert isinstance(row, Row)
    assert row.target == FcmCondition("'a' in topics && 'b' in topics")
    assert row.raw[2] == "two\nlines"


@pytest.mark.parametrize(
    ("line", "message", "bad_token"),
    [
        ("apns,", "an apns row needs a token", False),
        ("fcm,", "exactly one of token, topic or condition", False),
        ("webpush,", "needs endpoint, p256dh and auth (missing: endpoint, p256dh, auth)", False),
        ("pigeon,x", "unknown provider 'pigeon'", False),
        (",x", "no provider", False),
        ("apns,12", "token: must be 64 to 200 hex digits", True),
        ("fcm,has space", "token: must not contain whitespace", True),
    ],
)
def test_bad_csv_rows(tmp_path: Path, line: str, message: str, bad_token: bool) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"provider,token\n{line}\n")
    [row] = _read(path)
    assert isinstance(row, BadRow)
    assert message in row.message
    assert row.bad_token is bad_token
    assert row.line == 2


def test_csv_needs_a_header_naming_provider_or_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"{TOKEN}\n")
    with pytest.raises(CliError, match="first line must be a header"):
        TargetFile(str(path))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert _read(empty) == []


def test_jsonl_shapes(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    documents = [
        {"provider": "apns", "token": TOKEN},
        {"provider": "fcm", "topic": "news"},
        SUB.to_dict(),
        {"provider": "webpush", "endpoint": SUB.endpoint, "p256dh": SUB.p256dh, "auth": SUB.auth},
        {"provider": "webpush", **SUB.to_dict()},
        [1, 2],
        {"provider": "apns", "token": 5},
    ]
    path.write_text("\n".join(json.dumps(d) for d in documents) + "\n\n")
    rows = _read(path)
    assert [r.target for r in rows[:5] if isinstance(r, Row)] == [ApnsDevice(TOKEN), FcmTopic("news"), SUB, SUB, SUB]
    assert isinstance(rows[5], BadRow)
    assert "must be a JSON object, got list" in rows[5].message
    assert isinstance(rows[6], BadRow)
    assert "token must be a string" in rows[6].message
    assert rows[0].raw == json.dumps(documents[0])


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("t.csv", "provider,token\n", "csv"),
        ("t.jsonl", "", "jsonl"),
        ("t.ndjson", "", "jsonl"),
        ("t.json", "", "jsonl"),
        ("t.txt", '  {"provider": "apns"}\n', "jsonl"),
        ("t.txt", "provider,token\n", "csv"),
        ("t", "\ufeff{}\n", "jsonl"),
    ],
)
def test_format_from_extension_or_first_character(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with TargetFile(str(path)) as source:
        assert source.format == expected


def test_explicit_format_wins(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(json.dumps({"provider": "apns", "token": TOKEN}) + "\n")
    [row] = _read(path, "jsonl")
    assert isinstance(row, Row)


def test_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(json.dumps(SUB.to_dict()).encode() + b"\n")))
    monkeypatch.setattr("sys.stdin", stdin)
    with TargetFile("-") as source:
        assert source.format == "jsonl"
        assert source.fraction() is None  # a pipe has no size
        assert [r.target for r in source if isinstance(r, Row)] == [SUB]


def test_files_are_read_lazily(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("provider,token\n")
        for i in range(50_000):
            handle.write(f"apns,{i:064x}\n")
    with TargetFile(str(path)) as source:
        rows = iter(source)
        first = next(rows)
        assert isinstance(first, Row)
        fraction = source.fraction()
        assert fraction is not None
        assert fraction < 0.05  # one row in, a few buffered kilobytes of a 3.6 MB file read
        assert sum(1 for _ in rows) == 49_999
        assert source.fraction() == 1.0


def test_flag_targets_keep_what_was_typed(tmp_path: Path) -> None:
    file = tmp_path / "sub.json"
    file.write_text(json.dumps(SUB.to_dict(), indent=2))
    rows = flag_targets(apns=[TOKEN.upper()], fcm_topic=["/topics/news"], webpush=[f"@{file}"])
    assert [r.target for r in rows] == [ApnsDevice(TOKEN), FcmTopic("news"), SUB]
    assert [r.line for r in rows] == [1, 2, 3]
    assert rows[0].raw == TOKEN.upper()
    assert rows[2].raw == json.dumps(SUB.to_dict(), separators=(",", ":"))  # one line


def test_invalid_token_writer_formats(tmp_path: Path) -> None:
    csv_out = InvalidTokenWriter(str(tmp_path / "a.csv"), "csv", ["provider", "token", "note"])
    csv_out.write(["apns", TOKEN, 'say "hi", twice'])
    csv_out.close()
    assert (tmp_path / "a.csv").read_text() == f'provider,token,note\napns,{TOKEN},"say ""hi"", twice"\n'
    lines_out = InvalidTokenWriter(str(tmp_path / "b.jsonl"), "jsonl", None)
    lines_out.write('{"provider": "apns"}')
    lines_out.close()
    assert (tmp_path / "b.jsonl").read_text() == '{"provider": "apns"}\n'
    assert lines_out.count == 1
    with pytest.raises(CliError, match="--invalid-out: cannot write"):
        InvalidTokenWriter(str(tmp_path / "missing" / "x.csv"), "csv", None)
