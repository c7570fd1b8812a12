"""Every import in `src/realname` is the standard library, the package itself, or a declared
runtime dependency: `pip install .` (no dev group) must run every command. `realname bench`
once imported httpx, a dev-only dependency, and crashed with ModuleNotFoundError."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import realname

SOURCE = Path(realname.__file__).parent
PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_distributions() -> set[str]:
    """The distributions pyproject.toml's `[project] dependencies` name (what `pip install .`
    installs; optional extras and the dev group left out)."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return {
        _normal(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0])
        for requirement in project["dependencies"]
    }


def test_every_import_in_src_is_a_runtime_dependency() -> None:
    declared = _runtime_distributions()
    assert {"fastapi", "sqlalchemy", "httpx"} <= declared
    providers = packages_distributions()
    undeclared = {}
    for path in sorted(SOURCE.rglob("*.py")):
        for name in _top_level_imports(path):
            if name == "realname" or name in sys.stdlib_module_names or name == "__future__":
                continue
            distributions = {_normal(d) for d in providers.get(name, [])}
            if not distributions & declared:
                undeclared.setdefault(name, []).append(str(path.relative_to(SOURCE)))
    assert not undeclared, f"imported but not a runtime dependency: {undeclared}"
