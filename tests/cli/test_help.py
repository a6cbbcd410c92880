"""Every command's ``--help`` has a description, and help texts link to the published docs, not to files.

The wheel ships no ``docs/``: a help text that says "see docs/cli.md" points at nothing for someone who
installed unipush. The one docs URL is ``[project.urls] Documentation`` (pyproject.toml), mkdocs'
``site_url`` and the CLI's ``DOCS_URL``; this keeps the three equal, and every page a help text names real.
"""

from __future__ import annotations

import argparse
import re
import sys

import pytest

from tests.cli.support import ROOT
from unipush.cli._app import _parser
from unipush.cli._common import DOCS_URL

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

COMMANDS = [["send"], ["render"], ["vapid"], ["vapid", "generate"], ["sandbox"], ["demo"]]


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def _description(argv: list[str]) -> str | None:
    parser: argparse.ArgumentParser = _parser()
    for name in argv:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = commands.choices[name]
    return parser.description


def test_one_docs_url_in_pyproject_mkdocs_and_the_cli() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["urls"]["Documentation"] == DOCS_URL
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^site_url: (\S+)$", mkdocs, re.M)[1] == DOCS_URL  # type: ignore[index]


@pytest.mark.parametrize("argv", [["demo"], ["sandbox"]], ids=" ".join)
def test_sandbox_and_demo_have_descriptions(argv: list[str]) -> None:
    description = _description(argv)
    assert description is not None
    assert len(description) > 100


@pytest.mark.parametrize("argv", [[], *COMMANDS], ids=lambda argv: " ".join(argv) or "unipush")
def test_help_links_to_published_pages_not_to_files(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(_help(argv, capsys).split())  # argparse wraps lines; a URL has no spaces to wrap at
    assert "docs/" not in text.replace(DOCS_URL, "")
    assert ".md" not in text
    for page in re.findall(re.escape(DOCS_URL) + r"([a-z-]+)/", text):
        assert (ROOT / "docs" / f"{page}.md").is_file(), page


def test_the_commands_that_link_do(capsys: pytest.CaptureFixture[str]) -> None:
    linked = {
        " ".join(argv) for argv in [[], ["sandbox"], ["demo"], ["send"], ["render"]] if DOCS_URL in _help(argv, capsys)
    }
    assert linked == {"", "sandbox", "demo", "send", "render"}
