"""The layout's rules, checked on the source: no import cycles, no module imported by a name in
a string, and nothing outside src/demo/ (the demo's own code) imports src/demo/."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """The src modules `path` imports (resolved relative imports; `from pkg import mod` counts as
    pkg.mod when that is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    return {name for name in found if name in modules}


def src_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_import_cycles():
    graph = {module_name(p): imports(p, top_level_only=True) for p in src_files()}
    state: dict[str, int] = {}

    def visit(module, trail):
        if state.get(module) == 1:
            raise AssertionError("import cycle: " + " -> ".join(trail + [module]))
        if state.get(module) == 2:
            return
        state[module] = 1
        for other in sorted(graph.get(module, ())):
            if other != module and not module.startswith(other + "."):  # a package's own init
                visit(other, trail + [module])
        state[module] = 2

    for module in sorted(graph):
        visit(module, [])


def test_no_core_module_imports_the_demo():
    offenders = [f"{module_name(p)} imports {sorted(i)}" for p in src_files()
                 if not module_name(p).startswith("src.demo")
                 for i in [{m for m in imports(p, top_level_only=False)
                            if m == "src.demo" or m.startswith("src.demo.")}] if i]
    assert not offenders, offenders


def test_no_module_is_imported_by_a_name_in_a_string():
    found = []
    for path in [*src_files(), *ROOT.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("import_module", "__import__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


def test_the_checker_sees_cycles(tmp_path):
    """The import resolution finds relative imports (so the cycle test can fail)."""
    graph = {module_name(p): imports(p, top_level_only=True) for p in src_files()}
    assert "src.models.registry" in graph["src.models.cnn"]
    assert "src.train.checkpoints" in graph["src.train.workflow"]
    assert "src.errors" in graph["src.io"]
