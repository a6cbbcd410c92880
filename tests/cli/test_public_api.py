"""The CLI is a client of the library like any other: it imports unipush's public API only.

Public means a module path with no ``_private`` part (``unipush``, ``unipush.apns``, ``unipush.sandbox``...)
and a name without a leading underscore; the CLI's own private modules (``unipush.cli._config``...) are
its business.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.cli.support import ROOT

CLI = ROOT / "src" / "unipush" / "cli"

# The one exception, and why: the demo's code lives in the sandbox package, which this change does not own;
# moving src/unipush/sandbox/_demo.py to src/unipush/cli/demo.py removes it.
ALLOWED = {("unipush.sandbox._demo", "run_demo")}


def _unipush_imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` for each ``from unipush... import name`` (and ``(module, "")`` for ``import``)."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("unipush"):
            assert node.module is not None
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names if alias.name.startswith("unipush"))
    return found


def _private(module: str, name: str) -> bool:
    if module == "unipush.cli" or module.startswith("unipush.cli."):
        return False
    return any(part.startswith("_") for part in module.split(".")) or name.startswith("_")


def test_the_cli_imports_public_names_only() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) >= 10
    private = [
        f"{path.name}: from {module} import {name}"
        for path in modules
        for module, name in _unipush_imports(path)
        if _private(module, name) and (module, name) not in ALLOWED
    ]
    assert private == []


def test_the_check_sees_a_private_import() -> None:
    assert _private("unipush._sending", "authorize")
    assert _private("unipush", "_internal")
    assert not _private("unipush", "SupportsAuthorize")
    assert not _private("unipush.cli._config", "Settings")
