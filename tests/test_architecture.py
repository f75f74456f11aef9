"""Imports point down (ARCHITECTURE.md rule 2), checked by reading the source."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rnnkit"
# what each layer may import from rnnkit; anything else is an upward import
ALLOWED = {
    "reference": set(),
    "experiments": {"experiments", "tasks", "ngram", "nn", "data", "train", "eval", "errors", "config"},
    "errors": set(),
    "config": set(),
    "nn": {"nn", "config"},
    "data": {"data", "errors", "config"},
    "eval": {"eval"},
    "ngram": {"ngram", "eval"},
    "decode": {"decode", "nn"},
    "train": {"train", "nn", "errors", "config"},
    "viz": {"viz", "nn"},
    "export": {"export", "nn", "errors"},
    "tasks": {"tasks", "ngram", "nn", "data", "eval", "decode", "train", "viz", "export", "errors", "config",
              "__init__"},
    "serve": {"serve", "tasks", "decode", "data", "train", "errors"},
}


def rnnkit_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rnnkit"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("rnnkit."))
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    layer = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if layer not in ALLOWED:
        return  # cli, __main__ and __init__ sit on top
    assert rnnkit_imports(path) <= ALLOWED[layer]


def test_files_and_functions_stay_small():
    """ARCHITECTURE.md rule 9: files under 300 lines, functions under 40."""
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        assert len(source.splitlines()) <= 300, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno - node.lineno < 40, f"{path}:{node.lineno} {node.name}"


def test_a_task_name_is_looked_up_in_the_task_table_only():
    """No command tests a run's task by name: it asks ``TASKS`` (rnnkit/tasks/__init__.py)."""
    for path in (PACKAGE / "cli").rglob("*.py"):
        source = path.read_text()
        for name in ("lm", "lines", "ngram", "classify", "forecast", "translate"):
            assert f'== "{name}"' not in source and f'!= "{name}"' not in source, (path, name)
    for path in PACKAGE.rglob("*.py"):
        assert "read_task" not in path.read_text() and "TASK_DEFAULTS" not in path.read_text(), path
