"""The layers of the package point one way, explain has no import cycle, and the core stays light.

Read from the source with :mod:`ast` (every import, also those inside functions), so a
lazy import cannot hide a dependency that points the wrong way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule

PACKAGE = Path(chainrule.__file__).parent

#: Each layer and what it may import from the package (its own layer and those below).
LAYERS = {
    "core": {"errors", "files", "ops", "grad_mode", "anomaly", "inplace", "hooks", "graph", "autograd", "tensor",
             "functional", "gradcheck", "func", "lang", "backend"},
    "training": {"nn", "optim", "data", "serialization", "lecture"},
    "applications": {"explain", "train", "exercise", "distributed"},
    "interface": {"cli", "commands", "bench", "__main__"},
}
ORDER = list(LAYERS)


def _layer(top: str) -> str:
    return next(name for name, tops in LAYERS.items() if top in tops)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("chainrule",) + (parts[:-1] if parts[-1] == "__init__" else parts))
        found[name] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """The chainrule modules ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("chainrule"):
                out.add(target)
                out.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name.startswith("chainrule"))
    modules = _modules()
    return {m for m in out if m in modules and m not in (name, "chainrule")}


def _top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("name", sorted(n for n in _modules() if n != "chainrule"))
def test_a_module_imports_only_from_its_own_layer_or_below(name):
    mine = ORDER.index(_layer(_top(name)))
    wrong = sorted(m for m in _imports(name, _modules()[name]) if ORDER.index(_layer(_top(m))) > mine)
    assert not wrong, f"{name} ({_layer(_top(name))}) imports from a layer above it: {wrong}"


def test_explain_has_no_import_cycle():
    modules = {n: p for n, p in _modules().items() if n.startswith("chainrule.explain.")}
    graph = {n: {m for m in _imports(n, p) if m in modules} for n, p in modules.items()}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, path + [node])
        done.add(node)

    for n in sorted(graph):
        visit(n, [])


def test_import_chainrule_stays_light():
    """No plotting, drawing, terminal or data-set library is imported until it is used."""
    code = (
        "import sys, chainrule\n"
        "heavy = ('matplotlib', 'rich', 'sklearn', 'torch', 'safetensors', 'graphviz', 'scipy', 'pandas', 'pyarrow',\n"
        "         'dask', 'distributed')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
