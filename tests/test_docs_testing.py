"""docs/testing.md's examples, run as written: each ```python block is a test module of
its own, collected and run by a pytest in a subprocess (so the ``duroxide_env`` fixture
comes from the installed plugin, as it would for a user)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def blocks() -> list:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_every_example_in_the_testing_guide_passes(tmp_path):
    examples = blocks()
    assert len(examples) >= 4
    for n, source in enumerate(examples):
        assert "def test_" in source, f"example {n} has no test"
        (tmp_path / f"test_doc_example_{n}.py").write_text(source)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    tests = sum(source.count("\ndef test_") + source.startswith("def test_") for source in examples)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"{tests} passed" in proc.stdout, proc.stdout[-2000:]
