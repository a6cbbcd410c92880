"""Dependencies declared are dependencies used: each one pyproject.toml lists is imported where it is declared for.

A runtime dependency must be imported by ``src/``; one of the ``test`` extra by ``tests/`` (or by the pytest
plugin in ``src/``). The import names come from the installed distributions' metadata (``PyJWT`` → ``jwt``),
so a dependency nothing imports any more (py-vapid, respx once) fails here instead of being installed forever.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _import_names(distribution: str) -> set[str]:
    """The top-level modules ``distribution`` installs."""
    wanted = _canonical(distribution)
    return {
        module
        for module, owners in importlib.metadata.packages_distributions().items()
        if any(_canonical(owner) == wanted for owner in owners)
    }


def _imported(*folders: str) -> set[str]:
    """The top-level module names imported by the Python files under ``folders``."""
    names: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names


def _requirements(*declared: str) -> list[Requirement]:
    """The requirements that apply on this interpreter, other than unipush's own extras."""
    applying = [Requirement(text) for text in declared]
    return [r for r in applying if _canonical(r.name) != "unipush" and (r.marker is None or r.marker.evaluate())]


@pytest.mark.parametrize(
    ("group", "declared", "folders"),
    [
        ("dependencies", PROJECT["dependencies"], ("src",)),
        ("test extra", PROJECT["optional-dependencies"]["test"], ("tests", "src")),
    ],
    ids=["runtime", "test"],
)
def test_every_declared_dependency_is_imported(group: str, declared: list[str], folders: tuple[str, ...]) -> None:
    imported = _imported(*folders)
    unused = []
    for requirement in _requirements(*declared):
        modules = _import_names(requirement.name)
        assert modules, f"{requirement.name} ({group}) is not installed here"
        if not modules & imported:
            unused.append(requirement.name)
    assert unused == [], f"declared in {group} but imported nowhere in {', '.join(folders)}: {unused}"


def test_test_only_packages_are_not_runtime_dependencies() -> None:
    runtime = {_canonical(r.name) for r in _requirements(*PROJECT["dependencies"])}
    used_by_src = _imported("src")
    for requirement in _requirements(*PROJECT["optional-dependencies"]["test"]):
        if not _import_names(requirement.name) & used_by_src:
            assert _canonical(requirement.name) not in runtime, requirement.name
