"""Import layout, read from the source with `ast` (nothing is imported):

- no import cycle among the rule modules (resolvers/) and the live hub (api/live/,
  checked once it exists); every import statement counts, function-local ones and
  those under `if TYPE_CHECKING:` too, so a cycle cannot hide inside a function;
- layers point one way: api -> schema -> resolvers -> db.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# resolvers/ must exist; api/live/ is checked as soon as it does.
ACYCLIC = ["resolvers"] + [p for p in ("api/live",) if (ROOT / p).is_dir()]
# layer -> top-level packages it must not import
LAYERS = {"resolvers": {"api", "schema"}, "schema": {"api"}, "db": {"api", "schema", "resolvers"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(folder: str) -> dict[str, Path]:
    found = {module_name(p): p for p in sorted((ROOT / folder).rglob("*.py"))}
    assert found, f"no modules under {folder}/"
    return found


def imports(source: str, name: str, is_package: bool, known: set[str] | None = None) -> set[str]:
    """Absolute names of the modules `source` imports, from any statement anywhere.
    With `known`, each import is resolved to the known module it loads: for
    `from p import x`, p.x when that is a known module, else p."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                targets = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
                found.add(next((t for t in targets if t in known), alias.name) if known is not None else alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if known is not None and sub in known else base)
    return found


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """module -> the modules among `sources` it imports; sources: name -> (text, is package)."""
    known = set(sources)
    return {
        name: {t for t in imports(text, name, is_package, known) if t in known}
        for name, (text, is_package) in sources.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None."""
    done: set[str] = set()
    path: list[str] = []
    position: dict[str, int] = {}

    def visit(node: str) -> list[str] | None:
        position[node] = len(path)
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in position:
                return path[position[nxt]:] + [nxt]
            if nxt not in done and (cycle := visit(nxt)):
                return cycle
        path.pop()
        del position[node]
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_function_local_and_relative_imports_count():
    sources = {
        "pkg.one": ("from pkg.two import x\n", False),
        "pkg.two": ("def f():\n    from . import one\n", False),
    }
    assert find_cycle(import_graph(sources)) == ["pkg.one", "pkg.two", "pkg.one"]


def test_no_import_cycles():
    sources = {
        name: (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for folder in ACYCLIC
        for name, path in modules(folder).items()
    }
    cycle = find_cycle(import_graph(sources))
    assert cycle is None, f"import cycle in {', '.join(ACYCLIC)}: {' -> '.join(cycle)}"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layers_point_one_way(layer):
    wrong = [
        f"{name} imports {target}"
        for name, path in modules(layer).items()
        for target in sorted(imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"))
        if target.split(".")[0] in LAYERS[layer]
    ]
    assert not wrong, f"{layer}/ may not import {', '.join(sorted(LAYERS[layer]))}: " + "; ".join(wrong)
