"""The public API's types: mypy --strict and pyright pass over the package, the examples
and tests/typing/typed_api.py (assert_type on every typed call); both refuse each wrong
call in tests/typing/wrong_model.py and nothing else; and typed_api.py runs, so the
types it asserts are the values the SDK returns.

Both checkers read their settings from pyproject.toml ([tool.mypy], [tool.pyright]).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Set

import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"


def _run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=cwd, capture_output=True, text=True, timeout=600)


def _wrong_lines() -> Set[int]:
    lines = (TYPING / "wrong_model.py").read_text().splitlines()
    marked = {n for n, line in enumerate(lines, 1) if "  # wrong:" in line}
    assert len(marked) >= 5, "wrong_model.py lost its marked lines"
    return marked


def _reported(output: str, pattern: str) -> Set[int]:
    return {int(m) for m in re.findall(pattern, output, re.MULTILINE)}


def test_mypy_strict_passes_over_package_examples_and_typed_api() -> None:
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
    checked = int(re.search(r"in (\d+) source files", done.stdout).group(1))  # type: ignore[union-attr]
    assert checked >= 45, f"mypy checked only {checked} files: {done.stdout}"


def test_pyright_passes_over_package_examples_and_typed_api() -> None:
    done = _run("pyright")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout


def test_mypy_reports_every_wrong_call_and_nothing_else() -> None:
    done = _run("mypy", "--strict", "--no-incremental", "wrong_model.py", cwd=TYPING)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _reported(done.stdout, r"^wrong_model\.py:(\d+): error") == _wrong_lines(), done.stdout


def test_pyright_reports_every_wrong_call_and_nothing_else() -> None:
    done = _run("pyright", "wrong_model.py", cwd=TYPING)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _reported(done.stdout, r"wrong_model\.py:(\d+):\d+ - error") == _wrong_lines(), done.stdout


def test_typed_api_runs_and_returns_the_asserted_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TYPING))
    import typed_api

    receipts: List[typed_api.Receipt] = typed_api.main(str(tmp_path / "typed.db"))
    assert all(type(r) is typed_api.Receipt for r in receipts)
    # sync: charge(5) -> 5; async: charge 7 + charge_async 14 + sub checkout 7 + two results
    assert receipts == [typed_api.Receipt("typed-sync", 5), typed_api.Receipt("typed-async", 7 + 14 + 7 + 2)]
