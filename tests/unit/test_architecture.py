"""The house's rules that import-linter cannot see (its layer contracts run in `make lint`).

- No module takes part in an import cycle, TYPE_CHECKING imports included.
- No private name crosses a module boundary: a `_name` is imported or read only inside the module
  that defines it (tests included), so every cross-module dependency is on a public, documented name.
- A project import inside a function is allowed only for a heavy optional dependency (JAX, Textual,
  yfinance, pyarrow, Finnhub's client, Ray, SciPy), and says which on the same line; anything else goes at the
  top of the module, where the import graph can be read.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "hft_console"
SCANNED = [PACKAGE, ROOT / "tests", ROOT / "benchmarks", ROOT / "scripts"]
HEAVY = ("jax", "flax", "optax", "textual", "yfinance", "pandas", "pyarrow", "finnhub", "websockets", "ray", "scipy",
         "matplotlib")  # fmt: skip


def _python_files() -> Iterator[Path]:
    """The project's own files: a hidden folder is not the project's (``benchmarks/.venv-hftbacktest``,
    a benchmark's virtual environment, holds thousands of installed modules)."""
    for base in SCANNED:
        if base.is_dir():
            yield from sorted(
                p for p in base.rglob("*.py") if not any(s.startswith(".") for s in p.relative_to(base).parts)
            )


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# NamedTuple's public API is spelled with a leading underscore.
NAMEDTUPLE_API = {"_fields", "_field_defaults", "_replace", "_asdict", "_make"}


def _is_private(name: str) -> bool:
    dunder = name.startswith("__") and name.endswith("__")
    return name.startswith("_") and not dunder and name not in NAMEDTUPLE_API


def _private_reaches(path: Path) -> list[str]:
    return _private_reaches_in(path.read_text(), _module_name(path), str(path.relative_to(ROOT)))


def _private_reaches_in(source: str, me: str, label: str) -> list[str]:
    """Private names module `me` takes from another project module: `from m import _x`, or `m._x`
    where `m` was imported from the project."""
    tree = ast.parse(source, filename=label)
    found: list[str] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hft_console"):
            for alias in node.names:
                if _is_private(alias.name) and node.module != me:
                    found.append(f"{label}:{node.lineno} from {node.module} import {alias.name}")
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hft_console"):
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and isinstance(node.value, ast.Name):
            target = aliases.get(node.value.id)
            if target is not None and target != me:
                found.append(f"{label}:{node.lineno} {node.value.id}.{node.attr} ({target})")
    return found


def test_no_private_name_is_taken_from_another_module() -> None:
    reaches = [hit for path in _python_files() for hit in _private_reaches(path)]
    assert reaches == [], "private names used across modules:\n" + "\n".join(reaches)


def _local_project_imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, imported module, the line's text) for each project import inside a function."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hft_console"):
                # `from pkg import mod` imports pkg.mod: judge the submodule, not the package.
                modules = [_target(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names if a.name.startswith("hft_console")]
            else:
                continue
            for module in modules:
                yield node.lineno, module, lines[node.lineno - 1]


def _target(module: str, name: str) -> str:
    base = PACKAGE.parent.joinpath(*module.split("."), name)
    return f"{module}.{name}" if base.with_suffix(".py").is_file() or base.is_dir() else module


def _pulls_in_heavy(module: str) -> bool:
    probe = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        f"print(any(m.split('.')[0] in {HEAVY!r} for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


def test_function_local_project_imports_are_only_for_heavy_dependencies() -> None:
    local = [(path, *hit) for path in sorted(PACKAGE.rglob("*.py")) for hit in _local_project_imports(path)]
    uncommented = [f"{p.relative_to(ROOT)}:{line}: {text.strip()}" for p, line, _, text in local if "#" not in text]
    assert uncommented == [], "function-local project imports must say why on the same line:\n" + "\n".join(uncommented)
    # one interpreter per module, not per import of it (a module is imported from several places)
    light = sorted(module for module in {module for _, _, module, _ in local} if not _pulls_in_heavy(module))
    assert light == [], f"imported inside a function but pulls in no heavy dependency (move to the top): {light}"


def test_no_module_takes_part_in_an_import_cycle() -> None:
    """The layers contract forbids cycles between packages; this one forbids them inside a package too
    (TYPE_CHECKING imports count: a cycle there is still a design that cannot be read alone)."""
    graph = grimp.build_graph("hft_console")
    cycles = sorted(
        (a, b)
        for a in graph.modules
        for b in graph.find_modules_directly_imported_by(a)
        if graph.chain_exists(importer=b, imported=a)
    )
    assert cycles == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from hft_console.learn.dqn import _apply\n", 1),
        ("import hft_console.cli.main as cli\ncli._count('3')\n", 1),
        ("from hft_console.learn import dqn\nx = dqn.__name__\n", 0),
        ("from hft_console.routing.models import dqn\ndqn.q_values(1)\n", 0),
    ],
)
def test_the_private_name_check_finds_reaches(source: str, expected: int) -> None:
    assert len(_private_reaches_in(source, "tests.unit.probe", "probe.py")) == expected
