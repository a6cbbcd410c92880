"""docs/cli.md's examples work: every ``$`` command of its console blocks runs (offline, with --sandbox).

The page's ``console`` blocks run in order in one temporary directory, so a file made by one example
(``targets.csv``) serves the next. A command must exit 0: examples that show a failure end with
``|| echo "exit code $?"``, as a reader would type them. ``toml`` blocks must load as a config file.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.support import ROOT, subprocess_env
from unipush.cli._config import add_settings_arguments, load_settings

PAGE = ROOT / "docs" / "cli.md"
BIN = Path(sys.executable).parent


def _blocks(language: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each fenced block in the given language."""
    blocks: list[tuple[int, str]] = []
    current: list[str] | None = None
    start = 0
    for number, line in enumerate(PAGE.read_text().splitlines(), start=1):
        if current is None:
            if line.strip() == f"```{language}":
                current, start = [], number
        elif line.strip() == "```":
            blocks.append((start, "\n".join(current)))
            current = None
        else:
            current.append(line)
    return blocks


def _commands(block: str) -> list[str]:
    """The ``$`` commands of a console block, continuation lines joined."""
    commands: list[str] = []
    lines = iter(block.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\"):
            command = command[:-1] + " " + next(lines).strip()
        commands.append(command)
    return commands


@pytest.mark.skipif(shutil.which("unipush", path=str(BIN)) is None, reason="the unipush script is not installed")
def test_console_examples_run(tmp_path: Path) -> None:
    environment = subprocess_env(PATH=f"{BIN}:{subprocess_env()['PATH']}")
    ran = 0
    for line, block in _blocks("console"):
        for command in _commands(block):
            done = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=120
            )
            where = f"docs/cli.md:{line}: {command}"
            assert done.returncode == 0, f"{where}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, where
            ran += 1
    assert ran >= 8


def test_toml_examples_load(tmp_path: Path) -> None:
    blocks = _blocks("toml")
    assert blocks
    for _, block in blocks:
        config = tmp_path / "example.toml"
        config.write_text(block)
        parser = argparse.ArgumentParser()
        add_settings_arguments(parser)
        settings = load_settings(parser.parse_args(["--config", str(config)]), {})
        assert settings.configured() == ["apns", "fcm", "webpush"]


def test_the_shown_errors_are_the_real_ones(tmp_path: Path) -> None:
    """An error line quoted on the page is what the command prints."""
    text = PAGE.read_text()
    shown = re.findall(r"^\$ (unipush [^\n|]*?) \|\| echo .*\n(unipush: error: [^\n]+)$", text, re.M)
    assert shown
    for command, error in shown:
        done = subprocess.run(
            [sys.executable, "-m", *command.split()],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=subprocess_env(),
        )
        assert done.stderr.strip() == error
