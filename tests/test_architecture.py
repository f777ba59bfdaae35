"""The package's shape, checked: imports only point down the layers (import-linter, the
contract in pyproject.toml), and functions stay short enough to read."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "khabar"
MAX_FUNCTION_LINES = 60


def _is_compiled_kernel(node: ast.FunctionDef) -> bool:
    """numba kernels (decorated with njit) are kept whole: splitting a compiled loop
    costs speed."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id == "njit":
            return True
    return False


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > limit and not _is_compiled_kernel(node):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length})")
    return found


def test_no_function_over_sixty_lines_except_numba_kernels():
    assert long_functions(SRC) == []


def test_the_length_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def too_long():\n{body}\n", "utf-8")
    (tmp_path / "kernel.py").write_text(f"@njit(cache=True)\ndef kernel():\n{body}\n", "utf-8")
    assert long_functions(tmp_path) == [f"long.py:1 too_long ({MAX_FUNCTION_LINES + 1})"]


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("lint-imports not installed: pip install -e '.[dev]'")
    return found


def test_imports_only_point_down_the_layers():
    result = subprocess.run(
        [_lint_imports(), "--no-cache"], cwd=SRC.parents[1], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_layer_contract_names_both_modules_of_an_upward_import(tmp_path):
    """A copy of the package with one import that climbs (the data layer importing the
    runs layer) breaks the contract, and the message names both modules."""
    copy = tmp_path / "src" / "khabar"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(SRC.parents[1] / "pyproject.toml", tmp_path / "pyproject.toml")
    config = copy / "data" / "config.py"
    config.write_text(config.read_text("utf-8") + "\nimport khabar.runs.train  # climbs\n")
    result = subprocess.run(
        [_lint_imports(), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "khabar.data.config -> khabar.runs.train" in result.stdout
