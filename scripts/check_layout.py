"""Measure the house of the deliver package; exit 1 when a rule that keeps it layered breaks.

The aim is a house that cannot slide back: once modules sit on floors, each importing only
from the floors below, these checks stop a later change from quietly re-tangling them.
Every broken rule prints one ``path:line: message`` line.

1. No import cycles among the package's modules. Function-local imports and imports under
   ``if TYPE_CHECKING:`` count too: they hide a cycle from the interpreter, not from a reader.
2. No module over 400 lines: a module that size is a floor that stopped being one room.
3. ``click`` only under cli/, ``paramiko`` only under transport/, ``boto3``/``botocore`` only
   under release_store/, so each heavy dependency stays behind one wall.
4. No function (methods and nested ones too) over 60 lines, from ``def`` to its last line.

``--report`` also prints the figures: modules, lines, the largest module, the longest function,
the import cycles, and the floors: modules on the longest import chain once each cycle is
squashed into one node (a module importing nothing of the package is on floor 1).

Usage: python3 scripts/check_layout.py [--report] [PACKAGE_DIR]   (default: deliver)
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60
# third-party package -> the one subpackage directory allowed to import it
FENCES = {"click": "cli", "paramiko": "transport", "boto3": "release_store"}
FENCES["botocore"] = FENCES["boto3"]

Graph = dict[str, dict[str, int]]  # module -> {imported module: line of its first import}
Import = ast.Import | ast.ImportFrom
Violation = tuple[Path, int, str]  # sorted as tuples: each file's lines in order


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int


def load_modules(package_dir: Path) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package_dir.resolve().name, *path.relative_to(package_dir).with_suffix("").parts]
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        text = path.read_text(encoding="utf-8")
        modules[name] = Module(name, path, ast.parse(text, str(path)), len(text.splitlines()))
    return modules


def import_nodes(tree: ast.AST) -> list[Import]:
    # ast.walk reaches function bodies and TYPE_CHECKING blocks, which is the point
    return sorted((n for n in ast.walk(tree) if isinstance(n, Import)), key=lambda n: n.lineno)


def absolute_base(node: ast.ImportFrom, module: Module) -> str:
    package = module.name.split(".")[: None if module.path.name == "__init__.py" else -1]
    package = package[: len(package) - node.level + 1] if node.level else []
    return ".".join([*package, *([node.module] if node.module else [])])


def imported_modules(node: Import, module: Module, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = absolute_base(node, module)
    for alias in node.names:  # pkg.name when that is a module, else pkg's __init__
        yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base


def build_graph(modules: dict[str, Module]) -> Graph:
    graph: Graph = {name: {} for name in modules}
    for module in modules.values():
        for node in import_nodes(module.tree):
            for target in imported_modules(node, module, set(modules)):
                if target in modules:
                    graph[module.name].setdefault(target, node.lineno)
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm; a component comes out only after everything it imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
            if succ in stack:
                low[node] = min(low[node], low[succ])
        if low[node] == index[node]:
            components.append(sorted(stack[stack.index(node) :]))
            del stack[stack.index(node) :]

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def cycles(components: list[list[str]], graph: Graph) -> list[list[str]]:
    return [c for c in components if len(c) > 1 or c[0] in graph[c[0]]]


def shortest_cycle(start: str, members: set[str], graph: Graph) -> list[str]:
    parents: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        # a self-import is reported on its own, so the chain must go through another module
        for succ in sorted(members.intersection(graph[node]) - parents.keys() - {node}):
            if succ == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(parents[chain[-1]])
                return [*reversed(chain), start]
            parents[succ] = node
            queue.append(succ)
    raise AssertionError(f"{start} is in no cycle")


def count_floors(components: list[list[str]], graph: Graph) -> int:
    floor_of: dict[str, int] = {}
    for component in components:  # Tarjan order: every floor below is already numbered
        below = [floor_of[s] for m in component for s in graph[m] if s not in component]
        floor_of.update(dict.fromkeys(component, 1 + max(below, default=0)))
    return max(floor_of.values(), default=0)


def cycle_violations(modules: dict[str, Module], graph: Graph) -> Iterator[Violation]:
    for component in cycles(strongly_connected(graph), graph):
        for name in (m for m in component if m in graph[m]):
            yield modules[name].path, graph[name][name], f"import cycle {name} -> {name}"
        if len(component) == 1:
            continue
        chain = shortest_cycle(component[0], set(component), graph)
        # a shortest chain may skip members; name them all so none is missed when untangling
        rest = f" ({len(component)} tangled: {', '.join(component)})"
        where = modules[chain[0]].path, graph[chain[0]][chain[1]]
        yield *where, f"import cycle {' -> '.join(chain)}{rest * (len(chain) <= len(component))}"


def fence_violations(module: Module, package_dir: Path) -> Iterator[Violation]:
    home = module.path.relative_to(package_dir).parts[:-1][:1]
    for node in import_nodes(module.tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        else:
            names = [alias.name for alias in node.names]
        for top in sorted({name.split(".")[0] for name in names} & FENCES.keys()):
            if home != (FENCES[top],):
                yield module.path, node.lineno, f"{top} imported outside {FENCES[top]}/"


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int, int]]:
    """(qualified name, def line, length) of every function, methods and nested ones too."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            # lineno is the def line, not the first decorator: decorators are not the body
            yield prefix + child.name, child.lineno, (child.end_lineno or 0) - child.lineno + 1
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield from functions(child, f"{prefix}{child.name}.")
        else:
            yield from functions(child, prefix)


def size_violations(module: Module) -> Iterator[Violation]:
    if module.lines > MAX_MODULE_LINES:
        yield module.path, 1, f"module has {module.lines} lines (max {MAX_MODULE_LINES})"
    for name, line, length in functions(module.tree):
        if length > MAX_FUNCTION_LINES:
            yield module.path, line, f"{name} has {length} lines (max {MAX_FUNCTION_LINES})"


def print_report(modules: dict[str, Module], graph: Graph) -> None:
    components = strongly_connected(graph)
    largest = max(modules.values(), key=lambda m: m.lines)
    every_function = [
        (f"{m.name}.{q}", n) for m in modules.values() for q, _, n in functions(m.tree)
    ]
    longest = max(every_function, key=lambda pair: pair[1], default=("-", 0))
    print(f"modules: {len(modules)}")
    print(f"total lines: {sum(m.lines for m in modules.values())}")
    print(f"largest module: {largest.path} ({largest.lines} lines)")
    print(f"longest function: {longest[0]} ({longest[1]} lines)")
    print(f"import cycles (SCCs): {len(cycles(components, graph))}")
    print(f"floors: {count_floors(components, graph)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--report", action="store_true", help="also print the house's figures")
    parser.add_argument("package_dir", nargs="?", default=Path("deliver"), type=Path)
    args = parser.parse_args()
    modules = load_modules(args.package_dir)
    graph = build_graph(modules)
    violations = sorted(cycle_violations(modules, graph))
    for module in modules.values():
        violations += sorted(
            [*fence_violations(module, args.package_dir), *size_violations(module)]
        )
    for path, line, message in violations:
        print(f"{path}:{line}: {message}")
    if args.report:
        print_report(modules, graph)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
