"""The house rules of docs/architecture.md, checked: no import circle among the Rust
modules of ``src/`` nor among the modules of ``python/duroxide/``, and no source file
longer than one reader holds in mind (500 lines)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500


def _rust_module(path: Path) -> str:
    rel = path.relative_to(ROOT / "src").with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return "::".join(parts) or "crate"


def rust_graph() -> Dict[str, Set[str]]:
    """Module -> modules it names through ``crate::`` paths (parents of a path's leaf
    item count as the module)."""
    files = sorted((ROOT / "src").rglob("*.rs"))
    modules = {_rust_module(f) for f in files}
    graph: Dict[str, Set[str]] = {}
    for f in files:
        text = f.read_text()
        text = re.sub(r"#\[cfg\(test\)\].*", "", text, flags=re.S)  # unit tests may use anything
        me = _rust_module(f)
        deps: Set[str] = set()
        for path in re.findall(r"crate::((?:[a-z_]+::)*[A-Za-z_{]+)", text):
            segments = [s for s in path.split("::") if s and not s.startswith("{")]
            # The longest prefix that names a module.
            for n in range(len(segments), 0, -1):
                candidate = "::".join(segments[:n])
                if candidate in modules:
                    deps.add(candidate)
                    break
        graph[me] = {d for d in deps if d != me and not me.startswith(d + "::")}
    return graph


def python_graph() -> Dict[str, Set[str]]:
    """Module -> package modules it imports (at any depth, including lazy imports)."""
    pkg = ROOT / "python" / "duroxide"
    files = [f for f in pkg.rglob("*.py") if "_ffi" not in f.parts]
    names = {}
    for f in files:
        rel = f.relative_to(pkg.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[f] = ".".join(parts)
    known = set(names.values())
    graph: Dict[str, Set[str]] = {}
    for f, me in names.items():
        is_pkg = f.name == "__init__.py"
        base = me.split(".") if is_pkg else me.split(".")[:-1]
        deps: Set[str] = set()
        for node in ast.walk(ast.parse(f.read_text())):
            targets: List[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base[: len(base) - (node.level - 1)]
                    mod = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets.append(mod)
                targets += [f"{mod}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets += [a.name for a in node.names]
            for t in targets:
                if t in known and t != me:
                    deps.add(t)
        # A package's __init__ re-exporting its submodules is not a circle.
        graph[me] = {d for d in deps if not (is_pkg and d.startswith(me + "."))}
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_rust_modules_import_no_circle() -> None:
    graph = rust_graph()
    assert "orchestration::driver" in graph and "store" in graph, sorted(graph)
    assert cycles(graph) == []


def test_rust_store_layer_knows_nothing_above_it() -> None:
    graph = rust_graph()
    for module, deps in graph.items():
        if module == "store" or module.startswith("store::"):
            above = [d for d in deps if not (d == "store" or d.startswith(("store::", "ffi")))]
            assert above == [], f"{module} imports {above}"


def test_python_modules_import_no_circle() -> None:
    graph = python_graph()
    assert "duroxide.client" in graph, sorted(graph)
    assert cycles(graph) == []


def test_no_source_file_is_too_long() -> None:
    sources = list((ROOT / "src").rglob("*.rs")) + [
        f for f in (ROOT / "python" / "duroxide").rglob("*.py") if "_ffi" not in f.parts
    ]
    long = {str(f.relative_to(ROOT)): n for f in sources if (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert long == {}
