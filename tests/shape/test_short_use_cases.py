"""The use-case modules read as short use cases: no function over 30 lines (the mapping lives in
translate.py, the rules in domain/, the actions' definitions in one table)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USE_CASES = ["services/offers/src/offers/handlers.py", "services/journeys/src/journeys/handlers.py"]
LONGEST = 30


@pytest.mark.parametrize("module", USE_CASES)
def test_no_use_case_function_is_over_30_lines(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert len(functions) > 10, "the walk does see the module's functions"
    lengths = {f.name: (f.end_lineno or f.lineno) - f.lineno + 1 for f in functions}
    long = {name: lines for name, lines in lengths.items() if lines > LONGEST}
    assert long == {}, f"{module}: functions over {LONGEST} lines"
