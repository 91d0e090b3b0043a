"""The style DESIGN.md asks for, checked: short functions outside training loops."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "affectstream"
LONGEST = 50  # lines per function, outside train/


def _long_functions() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "train" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > LONGEST:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} "
                                 f"({length})")
    return found


def test_no_function_outside_training_is_longer_than_50_lines():
    assert _long_functions() == []
