"""The import graph of `benchmark/` and `albar/`, read with `ast`: no circles, and no import of
`albar` from `benchmark`; `albar` imports only the low-level `benchmark` modules that
docs/architecture.md lists.

Every import statement counts, at module level or inside a function (a lazy import still closes a
circle, it only hides it until the function runs); relative imports are resolved against the
importing module's package, and `from package import name` counts as an import of the submodule
`package.name` where that is a module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("benchmark", "albar")


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the two packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that module `name` (file `path`) imports anywhere in its body."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = []
            for alias in node.names:
                sub = f"{stem}.{alias.name}"
                targets.append(sub if sub in modules else stem)
        else:
            continue
        for target in targets:
            # `import benchmark.tracking.sam` names the module itself; keep the longest prefix
            # that is one of ours (a name inside a module is not a module).
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as one closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [closed_path(graph, component) for component in components]


def closed_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One circle through the component's first module, found breadth first: a -> b -> ... -> a."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    raise AssertionError(f"no circle through {start} in {component}")


def documented_albar_imports() -> set[str]:
    """The `benchmark` modules docs/architecture.md allows `albar` to import (its marked line)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    line = re.search(r"^`albar` may import: (.+)$", text, flags=re.MULTILINE)
    assert line, "docs/architecture.md: the line '`albar` may import: ...' is missing"
    return set(re.findall(r"`(benchmark[\w.]*)`", line.group(1)))


def test_the_walk_sees_module_level_lazy_and_relative_imports():
    graph = import_graph()
    assert {"benchmark.config", "benchmark.metrics", "benchmark.scoring", "albar.train"} <= set(
        graph
    )
    # module level, `from x import names`
    assert "benchmark.metrics" in graph["benchmark.tables.build"]
    # inside a function (the tables writer draws its plots with a lazy import)
    assert "benchmark.plots" in graph["benchmark.tables.write"]
    assert graph["benchmark.scoring"] >= {"benchmark.metrics", "benchmark.tables.write"}


def test_relative_imports_are_resolved(tmp_path):
    modules = {
        "pkg": tmp_path / "__init__.py",
        "pkg.a": tmp_path / "a.py",
        "pkg.b": tmp_path / "b.py",
    }
    modules["pkg.a"].write_text("def f():\n    from .b import g\n    from . import b\n")
    assert imports_of("pkg.a", modules["pkg.a"], modules) == {"pkg.b"}
    modules["pkg"].write_text("from .a import f\n")
    assert imports_of("pkg", modules["pkg"], modules) == {"pkg.a"}


def test_cycle_finder_finds_a_lazy_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    found = cycles(import_graph())
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_benchmark_never_imports_albar():
    graph = import_graph()
    offenders = {
        name: sorted(t for t in targets if t.split(".")[0] == "albar")
        for name, targets in graph.items()
        if name.split(".")[0] == "benchmark"
    }
    offenders = {name: targets for name, targets in offenders.items() if targets}
    assert not offenders, f"benchmark modules importing albar: {offenders}"


def test_albar_imports_only_the_documented_benchmark_modules():
    graph = import_graph()
    used = {
        target
        for name, targets in graph.items()
        if name.split(".")[0] == "albar"
        for target in targets
        if target.split(".")[0] == "benchmark"
    }
    assert used == documented_albar_imports()
