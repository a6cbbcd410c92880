"""``unipush send`` with send policies from ``unipush.toml``: the same rules as ``PushClient(policies=...)``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import assert_one_line_error, cli_sandbox, isolate, run, toml
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


def config(tmp_path: Path, info: dict[str, Any], policies: str) -> str:
    path = tmp_path / "unipush.toml"
    path.write_text(toml(info) + policies, encoding="utf-8")
    return str(path)


CAMPAIGN_AND_CAP = """
[[policies]]
type = "deduplicate"
key = "data.campaign"
window = "7d"

[[policies]]
type = "frequency_cap"
limit = 2
window = "1d"
"""


def test_a_campaign_and_a_cap_from_the_config_file(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, sandbox.info(), CAMPAIGN_AND_CAP)
    apns, fcm = sandbox.apns_device(), sandbox.fcm_device()
    targets = ["--apns", apns.token, "--fcm", fcm.token]
    code, out, err = run(capsys, "send", "--config", path, "--title", "x", "--data", "campaign=spring", *targets * 3)
    assert code == 1, err  # some were not sent
    assert out.count(" sent (id ") == 2
    assert out.count("failed: deduplicate") == 4
    assert "failures: deduplicate ×4" in out  # the summary names the policy
    assert sorted(d.target for d in sandbox.inbox.all()) == sorted([apns.token, fcm.token])
    # Without [policy_store] the counts live in this run's memory: a new run starts from zero.
    code, out, err = run(capsys, "send", "--config", path, "--title", "y", *targets * 3)
    assert out.count(" sent (id ") == 4
    assert out.count("failed: frequency_cap") == 2


def test_counts_carry_over_between_runs_through_redis(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str, request: pytest.FixtureRequest
) -> None:
    store = f'[policy_store]\nredis_url = "{redis_url}"\nprefix = "test:{request.node.name}:"\n'
    path = config(tmp_path, sandbox.info(), CAMPAIGN_AND_CAP + store)
    apns, fcm = sandbox.apns_device(), sandbox.fcm_device()
    targets = ["--apns", apns.token, "--fcm", fcm.token]
    code, out, err = run(capsys, "send", "--config", path, "--title", "x", "--data", "campaign=spring", *targets)
    assert code == 0, err
    code, out, err = run(capsys, "send", "--config", path, "--title", "x", "--data", "campaign=spring", *targets)
    assert out.count("failed: deduplicate") == 2  # the first run's campaign, remembered in Redis
    code, out, err = run(capsys, "send", "--config", path, "--title", "y", *targets * 2)
    assert out.count(" sent (id ") == 2  # one more each: the campaign took one of the 2 a day
    assert out.count("failed: frequency_cap") == 2
    assert sorted(d.target for d in sandbox.inbox.all()) == sorted([apns.token, fcm.token] * 2)


def test_quiet_hours_from_the_config_file(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 00:00 to 23:59 in UTC: quiet whenever this test runs, except in the last minute of the day.
    path = config(
        tmp_path, sandbox.info(), '[[policies]]\ntype = "quiet_hours"\nstart = "00:00"\nend = "23:59:59.999999"\n'
    )
    code, out, err = run(capsys, "send", "--config", path, "--title", "x", "--fcm", sandbox.fcm_device().token)
    assert code == 1, err
    assert "quiet_hours" in out
    assert len(sandbox.inbox) == 0


@pytest.mark.parametrize(
    ("policies", "fragment"),
    [
        ('[[policies]]\ntype = "snooze"\n', "[[policies]] #1: type must be one of quiet_hours"),
        ('[[policies]]\ntype = "frequency_cap"\nlimit = 2\n', "#1: window is required"),
        ('[[policies]]\ntype = "frequency_cap"\nlimit = 0\nwindow = "1d"\n', "limit must be an int >= 1"),
        ('[[policies]]\ntype = "frequency_cap"\nlimit = 1\nwindow = "soon"\n', "#1: window: expected seconds"),
        ('[[policies]]\ntype = "deduplicate"\nkey = "campaign"\nwindow = 60\n', "key must be data.<key>"),
        ('[[policies]]\ntype = "quiet_hours"\nzone = "Mars/Base"\n', "not a known IANA time zone"),
        ('[[policies]]\ntype = "quiet_hours"\nquiet = true\n', "unknown key 'quiet' for quiet_hours"),
        ('[policy_store]\nurl = "redis://x"\n', "[policy_store]: give redis_url"),
    ],
)
def test_a_mistake_in_the_policies_is_one_line(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], policies: str, fragment: str
) -> None:
    path = config(tmp_path, sandbox.info(), policies)
    code, _out, err = run(capsys, "send", "--config", path, "--title", "x", "--fcm", "t" * 40)
    assert code == 2
    assert_one_line_error(err, fragment)
