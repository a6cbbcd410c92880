"""Every example runs as a user would run it, against the local sandbox, with warnings as errors."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_server import _unavailable

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# A line each example must print when it worked.
EXPECTED = {
    "quickstart.py": "--- apns: POST https://api.sandbox.push.apple.com/3/device/",
    "five_lines.py": "delivered, id ",
    "fastapi_app.py": "POST /orders/1234/ship: 3 delivered, 1 failed",
    "django_prune.py": "after: 4 devices",
    "campaign_processes.py": "3,000 targets: 2,998 delivered, 2 failed (2 dead tokens to delete)",
    "shared_token.py": "4 processes: 400 of 400 delivered, 1 provider token",
    "live_activity_broadcast.py": "pushes per fan: [4, 4, 4] (1 start + 3 broadcasts each)",
    "fcm_topics.py": "the topic message reached 3 devices",
    "celery_campaign.py": "after: 950 devices",
    "safe_pruning.py": "fixed: 48 delivered, 2 dead, 48 devices kept",
    "self_hosted_push_service.py": "4 of 5 delivered over HTTP/1.1; 1 unsubscribed to remove",
    "inbox_page.py": "6 pushes; the page shows 3 notifications",
    "send_policies.py": "bo's updates: ['delivered', 'frequency_cap']",
    "prometheus_metrics.py": 'unipush_notifications_total{error_type="UNREGISTERED",messaging_system="fcm"',
}
NEEDS = {"fastapi_app.py": ["fastapi"], "celery_campaign.py": ["celery", "redis"]}
# Programs an example's demo starts (the test skips, saying so, where one is missing).
NEEDS_PROGRAMS = {"celery_campaign.py": ["redis-server"]}

# The variables the examples read real credentials from: unset, so they use the sandbox.
CREDENTIAL_PREFIXES = ("APNS_", "FCM_", "VAPID_", "GOOGLE_APPLICATION_CREDENTIALS")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}
    env["PYTHONWARNINGS"] = "error"
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_every_example_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str) -> None:
    missing = [module for module in NEEDS.get(name, []) if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}: pip install 'unipush[examples]'")
    absent = [program for program in NEEDS_PROGRAMS.get(name, []) if shutil.which(program) is None]
    if absent:
        _unavailable(f"{name} needs {', '.join(absent)} (Debian: apt-get install {' '.join(absent)})")
    result = run(str(EXAMPLES / name))
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert EXPECTED[name] in result.stdout, result.stdout
    assert result.stderr == "", result.stderr


def test_testing_example_passes_with_the_pytest_plugin() -> None:
    result = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES / "testing"))
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "5 passed" in result.stdout, result.stdout
