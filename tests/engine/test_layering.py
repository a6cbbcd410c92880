"""The engine's modules import one way only: no back-references, not even type-only ones."""

from __future__ import annotations

import ast
from pathlib import Path

import unipush._engine

# Each module may import only the ones before it.
CHAIN = ["_config", "_exchange", "_connection", "_pool", "_engine"]


def engine_imports(module: str) -> set[str]:
    """The ``unipush._engine`` modules that ``module`` imports anywhere, ``TYPE_CHECKING`` blocks included."""
    path = Path(unipush._engine.__file__).parent / f"{module}.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["unipush", "_engine"] and len(parts) > 2 and parts[2] in CHAIN:
                found.add(parts[2])
    return found


def test_every_engine_module_is_in_the_chain() -> None:
    package = Path(unipush._engine.__file__).parent
    modules = {path.stem for path in package.glob("_*.py") if path.stem != "__init__"}
    # Modules other helpers add (another protocol's connection) must find their place in CHAIN too.
    assert modules <= set(CHAIN) | {m for m in modules if m.startswith("_http1")}


def test_imports_run_one_way() -> None:
    for position, module in enumerate(CHAIN):
        later = set(CHAIN[position:])
        assert not engine_imports(module) & later, f"{module} imports {sorted(engine_imports(module) & later)}"


def test_connections_and_pools_never_reach_the_engine() -> None:
    # Issue 11 §3: settings and counters come in as EngineConfig and EngineStats, not via pool.engine.
    package = Path(unipush._engine.__file__).parent
    for module in ("_connection", "_pool"):
        source = (package / f"{module}.py").read_text()
        assert ".engine." not in source
        assert "pool.engine" not in source
