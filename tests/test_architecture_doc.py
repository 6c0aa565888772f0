"""docs/ARCHITECTURE.md stays true to the tree: every path it names exists, and every name in
its "behaviour → file" table is defined in the file that row points to."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PATH = re.compile(r"`((?:recstore|crypto|ingest|api|tests)/[\w/]*\.py)`")


def _defined(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _table_rows() -> list[tuple[list[str], list[str]]]:
    text = DOC.read_text()
    table = text.split("## Behaviour → file", 1)[1]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue
        names = [n.split(".")[-1] for n in re.findall(r"`([\w.]+)`", cells[2])]
        rows.append((re.findall(r"`([^`]+)`", cells[1]), names))
    return rows


def test_every_named_path_exists() -> None:
    named = set(PATH.findall(DOC.read_text()))
    assert len(named) > 20
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert missing == []


def test_behaviour_table_names_are_defined_where_it_says() -> None:
    rows = _table_rows()
    assert len(rows) >= 25
    wrong = [(paths, name) for paths, names in rows for name in names
             if not any(name in _defined(ROOT / path) for path in paths)]
    assert wrong == []


def test_every_package_has_a_row_in_the_package_table() -> None:
    layers = DOC.read_text().split("## Layers", 1)[1].split("\n## ", 1)[0]
    packages = [f"{p.parent.relative_to(ROOT)}/" for p in sorted(ROOT.glob("*/*/__init__.py"))
                if p.parent.parent.name in ("recstore", "api") and p.parent.name != "migrations"]
    assert "recstore/recordings/" in packages
    assert [p for p in packages if f"| `{p}` |" not in layers] == []
