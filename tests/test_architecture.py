"""The shape of `src/realname` that import-linter cannot see: file sizes, and the layer
picture in docs/architecture.md kept true to the contract `make lint` enforces."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import realname

SOURCE = Path(realname.__file__).parent
ROOT = Path(__file__).parents[1]
LIMIT = 600
REASON = "Over 600 lines:"


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"), str(path))) or ""


def test_no_module_over_600_lines_without_a_reason_at_its_top() -> None:
    """A long module is usually two jobs in one file; where it is one job, the module says so
    in its docstring ("Over 600 lines: ...") so the next reader does not split it."""
    unexplained = {
        str(path.relative_to(SOURCE)): lines
        for path in sorted(SOURCE.rglob("*.py"))
        if "migrations" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
        and REASON not in _docstring(path)
    }
    assert not unexplained, f"split these or say why at their top ({REASON!r}): {unexplained}"


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layered,) = [c for c in contracts if c["type"] == "layers"]
    return [str(layer) for layer in layered["layers"]]


def test_the_architecture_doc_draws_the_enforced_layers_in_order() -> None:
    """docs/architecture.md is where a new domain's author looks first: its layer list is the
    import-linter contract's, top to bottom, so the picture cannot drift from what is checked."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = doc.index("```layers") + len("```layers")
    drawn = [line.strip() for line in doc[start : doc.index("```", start)].splitlines()]
    drawn = [line for line in drawn if line and not line.startswith("#")]
    assert drawn == _layers()


def test_every_top_level_package_sits_in_a_layer() -> None:
    """A new package that no layer names would escape every arrow the contract checks."""
    named = {
        module.strip().removeprefix("realname.").split(".")[0]
        for layer in _layers()
        for module in layer.replace(":", "|").split("|")
    }
    packages = {
        path.stem if path.is_file() else path.name
        for path in SOURCE.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.stem not in {"__init__", "__main__"})
    }
    assert packages - named == set()
