"""The appliance's import graph, read from the source (imports inside functions included, those
under `if TYPE_CHECKING:` left out), and its cycles. `python -m tests.foundation.imports` prints
the cycles between packages and between modules."""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "appliance"


def modules(root: Path = ROOT) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in root.rglob("*.py"):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _runtime_imports(tree: ast.AST) -> list[str]:
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: no import at run time
            if isinstance(child, ast.Import):
                names.extend(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names.extend(f"{child.module}.{a.name}" for a in child.names)
                names.append(child.module)
            visit(child)

    visit(tree)
    return names


@functools.cache
def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module → the appliance modules it imports (a name imported from a package counts as the
    submodule when there is one, else as the package). Read once per process: do not change it."""
    mods = modules(root)

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        graph[name]
        for imported in _runtime_imports(ast.parse(path.read_text(), str(path))):
            target = owner(imported)
            if target and target != name:
                graph[name].add(target)
    return graph


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, targets in module_graph(root).items():
        graph[package_of(a)]
        for b in targets:
            if package_of(a) != package_of(b):
                graph[package_of(a)].add(package_of(b))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


def main() -> None:
    for title, graph in (("packages", package_graph()), ("modules", module_graph())):
        print(f"cycles between {title}:")
        for comp in cycles(graph):
            print("  " + ", ".join(comp))
            for a in comp:
                inside = sorted(b for b in graph[a] if b in comp)
                print(f"      {a} -> {', '.join(inside)}")


if __name__ == "__main__":
    main()
