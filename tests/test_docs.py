"""Run the Python code blocks of README.md and docs/**/*.md, so that no example in the docs rots.

The conventions (also in docs/contributing.md):

* A fence whose language is ``python`` (or ``py``, ``python3``) is a program: it runs in a fresh
  interpreter (``-W error``, working directory a temporary one, ``TIMEOUT`` seconds at most), offline:
  only loopback addresses can be resolved or connected to, so the sandbox works and the real
  services cannot be reached. Line numbers in its traceback are the Markdown file's.
* ```` ```python {.no-run} ```` marks a block that cannot run (real credentials, a fragment, a
  third-party library's call in the migration guide). It is still compiled, so its syntax is checked
  (top-level ``await`` is allowed). ``{.no-run}`` is a class attribute to pymdownx.superfences; GitHub
  ignores it and still highlights the block as Python.
* ```` ```pycon ```` blocks (``>>>`` sessions) run as doctests.
* Every other language (``console``, ``text``, ``json``, ``toml``, ``js``...) is not checked here.

``python -m pytest tests/test_docs.py -k quickstart`` runs one page's blocks; each test id is
``path:line`` of the opening fence.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120.0
RUN_LANGUAGES = frozenset({"python", "py", "python3"})
DOCTEST_LANGUAGES = frozenset({"pycon"})
NO_RUN_CLASS = "no-run"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts, its language, classes and dedented source."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    classes: frozenset[str]
    code: str

    @property
    def mode(self) -> str:
        """``run``, ``compile`` (``{.no-run}``), ``doctest`` or ``skip`` (not Python)."""
        if self.language in DOCTEST_LANGUAGES:
            return "doctest"
        if self.language not in RUN_LANGUAGES:
            return "skip"
        return "compile" if NO_RUN_CLASS in self.classes else "run"

    @property
    def id(self) -> str:
        """``path:line`` relative to the repository root."""
        try:
            shown = self.path.relative_to(ROOT)
        except ValueError:
            shown = self.path
        return f"{shown.as_posix()}:{self.line}"


def parse_info(info: str) -> tuple[str, frozenset[str]]:
    """Split a fence's info string into its language and its ``{.class}`` attributes.

    Accepts ``python``, ``python {.no-run}``, ``python title="x"`` and ``{.python .no-run}``.
    """
    info = info.strip()
    language = ""
    attributes = ""
    if info.startswith("{"):
        attributes = info
    else:
        language, _, attributes = info.partition(" ")
    classes = set()
    brace = re.search(r"\{([^}]*)\}", attributes)
    if brace:
        for token in brace.group(1).split():
            if token.startswith("."):
                classes.add(token[1:])
    if not language and classes:
        # {.python .no-run}: the first class names the language, as superfences reads it.
        first = brace.group(1).split()[0] if brace else ""
        language = first[1:] if first.startswith(".") else ""
        classes.discard(language)
    return language.lower(), frozenset(classes)


def iter_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, outer blocks only (a fence inside a fence is content)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent = len(match["indent"].expandtabs(4))
        fence = match["fence"]
        language, classes = parse_info(match["info"])
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", lines[i])
            if closing:
                break
            body.append(_strip_indent(lines[i], indent))
            i += 1
        i += 1  # past the closing fence (or the end of the file: CommonMark closes it there)
        code = textwrap.dedent("\n".join(body)) + "\n"
        blocks.append(Block(path, start + 1, language, classes, code))
    return blocks


def _strip_indent(line: str, indent: int) -> str:
    """Remove up to ``indent`` columns of leading spaces (a fence inside a list item or an admonition)."""
    expanded = line.expandtabs(4)
    removable = len(expanded) - len(expanded.lstrip(" "))
    return expanded[min(indent, removable) :]


def documented_files() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    files = [ROOT / "README.md"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    return [f for f in files if f.is_file()]


def checked_blocks() -> list[Block]:
    """The blocks this module checks (run, compiled or doctested), in file order."""
    return [b for f in documented_files() for b in iter_blocks(f) if b.mode != "skip"]


# The program each block runs in: an offline guard, then the block compiled under the Markdown file's
# name with its own line numbers, so a traceback points at the page.
RUNNER = r"""
import doctest, ipaddress, json, socket, sys

spec = json.loads(sys.stdin.read())


def _loopback(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%")[0]
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _refuse(host):
    raise OSError(f"documentation code blocks run offline: refusing to reach {host!r} (use the sandbox)")


_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    if not _loopback(host):
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse(address[0])
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse(address[0])
    return _connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex

filename, line, code = spec["filename"], spec["line"], spec["code"]
if spec["mode"] == "doctest":
    test = doctest.DocTestParser().get_doctest(code, {"__name__": "__main__"}, filename, filename, line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    sys.exit(1 if runner.failures else 0)
compiled = compile("\n" * line + code, filename, "exec")
exec(compiled, {"__name__": "__main__", "__file__": filename})
"""


def _environment() -> dict[str, str]:
    """The caller's environment without credentials a block could silently pick up."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("UNIPUSH_") and k not in {"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"}
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["NO_COLOR"] = "1"
    return env


def run_block(block: Block, cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``block`` in a fresh interpreter in ``cwd``; the completed process (raises on timeout)."""
    spec = {"filename": str(block.path), "line": block.line, "code": block.code, "mode": block.mode}
    env = _environment()
    env["CLOUDSDK_CONFIG"] = str(cwd / ".gcloud")  # no gcloud application-default login either
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", RUNNER],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def compile_block(block: Block) -> None:
    """Check a ``{.no-run}`` block's syntax (top-level ``await`` allowed); raises ``SyntaxError``."""
    compile(
        "\n" * block.line + block.code,
        str(block.path),
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )


@pytest.mark.parametrize("block", checked_blocks(), ids=lambda b: b.id)
def test_code_block(block: Block, tmp_path: Path) -> None:
    if block.mode == "compile":
        compile_block(block)
        return
    try:
        done = run_block(block, tmp_path)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{block.id}: still running after {exc.timeout:.0f} s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"{block.id} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}",
            pytrace=False,
        )


# -- the checker's own tests -------------------------------------------------------------------------


def _blocks_of(tmp_path: Path, text: str) -> list[Block]:
    page = tmp_path / "page.md"
    page.write_text(textwrap.dedent(text), encoding="utf-8")
    return iter_blocks(page)


def test_fences_languages_and_no_run(tmp_path: Path) -> None:
    blocks = _blocks_of(
        tmp_path,
        """\
        # Page

        ```python
        print("run")
        ```

        ```python {.no-run}
        client = PushClient(apns=APNs(key="AuthKey.p8"))
        ```

        ~~~{.python .no-run title="sketch"}
        await thing()
        ~~~

        ```console
        $ unipush demo
        ```

        ```pycon
        >>> 1 + 1
        2
        ```
        """,
    )
    assert [(b.line, b.language, b.mode) for b in blocks] == [
        (3, "python", "run"),
        (7, "python", "compile"),
        (11, "python", "compile"),
        (15, "console", "skip"),
        (19, "pycon", "doctest"),
    ]
    assert blocks[0].code == 'print("run")\n'


def test_nested_and_indented_fences(tmp_path: Path) -> None:
    blocks = _blocks_of(
        tmp_path,
        """\
        ````markdown
        ```python
        raise SystemExit("inside an outer fence: content, not a block")
        ```
        ````

        !!! example

            ```python
            if True:
                x = 1
            ```

        1. A step:

           ```py
           y = 2
           ```
        """,
    )
    assert [(b.language, b.line) for b in blocks] == [("markdown", 1), ("python", 9), ("py", 16)]
    assert blocks[1].code == "if True:\n    x = 1\n"
    assert blocks[2].code == "y = 2\n"


def test_tracebacks_point_at_the_markdown_line(tmp_path: Path) -> None:
    [block] = _blocks_of(tmp_path, "text\n\n```python\nx = 1\nraise ValueError('boom')\n```\n")
    done = run_block(block, tmp_path)
    assert done.returncode == 1
    assert f'File "{tmp_path / "page.md"}", line 5' in done.stderr
    assert "ValueError: boom" in done.stderr


def test_blocks_run_offline_but_reach_loopback(tmp_path: Path) -> None:
    [block] = _blocks_of(
        tmp_path,
        """\
        ```python
        import socket

        server = socket.create_server(("127.0.0.1", 0))
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
        server.close()
        for address in [("push.example.com", 443), ("192.0.2.1", 443)]:
            try:
                socket.create_connection(address, timeout=5)
            except OSError as exc:
                assert "run offline" in str(exc), exc
            else:
                raise AssertionError(f"reached {address}")
        print("offline ok")
        ```
        """,
    )
    done = run_block(block, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "offline ok\n"


def test_doctest_and_compile_modes(tmp_path: Path) -> None:
    good, bad, sketch, broken = _blocks_of(
        tmp_path,
        """\
        ```pycon
        >>> sorted({"b", "a"})
        ['a', 'b']
        ```

        ```pycon
        >>> 1 + 1
        3
        ```

        ```python {.no-run}
        result = await client.send(n, ApnsDevice("a1b2…"))
        ```

        ```python {.no-run}
        def broken(:
        ```
        """,
    )
    assert run_block(good, tmp_path).returncode == 0
    failed = run_block(bad, tmp_path)
    assert failed.returncode == 1
    assert "Expected:\n    3\nGot:\n    2" in failed.stdout
    compile_block(sketch)
    with pytest.raises(SyntaxError) as info:
        compile_block(broken)
    assert info.value.lineno == 16


def test_the_readme_has_a_block_that_runs() -> None:
    assert any(b.mode == "run" for b in iter_blocks(ROOT / "README.md"))
