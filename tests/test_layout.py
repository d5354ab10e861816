"""The package's layout rules (issue 24): every module imports, no import circle, no
``sys.path`` edits, no function over 120 lines and no module over 600 lines (outside the C
kernel in ``espnet_mvc/nets/ssm/csrc``)."""

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "espnet_mvc"
KERNEL = PACKAGE / "nets" / "ssm" / "csrc"
MAX_FUNCTION_LINES = 120
MAX_MODULE_LINES = 600


def _modules() -> Dict[str, Path]:
    """espnet_mvc's modules by dotted name (packages by their ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if KERNEL in path.parents:
            continue
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imported(name: str, path: Path) -> Set[str]:
    """The espnet_mvc modules ``name`` imports (at any depth of its code: lazy imports in
    functions count, a circle through them is a circle all the same)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            # the module itself, else the package it names (``from pkg import name``)
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target.startswith("espnet_mvc") and target != name:
                found.add(target)
    return found


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):
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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package_edges(name: str) -> Set[str]:
    """A module imports its parent packages (their ``__init__`` runs first): not a circle
    of the code's own making, so a package's edges to its own submodules are left out."""
    return {m for m in _imported(name, MODULES[name])
            if not (MODULES[name].name == "__init__.py" and m.startswith(name + "."))}


def test_no_import_circle():
    graph = {name: _package_edges(name) for name in MODULES}
    assert _cycles(graph) == []


def test_every_module_imports_in_a_fresh_process():
    code = (
        "import importlib, sys\n"
        f"names = {sorted(MODULES)!r}\n"
        "failed = []\n"
        "for n in names:\n"
        "    try:\n"
        "        importlib.import_module(n)\n"
        "    except Exception as e:\n"
        "        failed.append(f'{n}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _sys_path_edits(path: Path) -> List[int]:
    """Lines that change ``sys.path`` (``sys.meta_path`` import hooks are not path edits)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value  # sys.path.insert(...), sys.path.append(...)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t.value if isinstance(t, ast.Subscript) else t for t in targets
                           if isinstance(t, (ast.Attribute, ast.Subscript))), None)
        if (isinstance(target, ast.Attribute) and target.attr == "path"
                and isinstance(target.value, ast.Name) and target.value.id == "sys"):
            lines.append(node.lineno)
    return lines


def test_no_sys_path_edits():
    edits = {str(p.relative_to(REPO)): _sys_path_edits(p) for p in MODULES.values()}
    assert {k: v for k, v in edits.items() if v} == {}


@pytest.mark.parametrize("limit", [MAX_FUNCTION_LINES])
def test_no_long_function(limit):
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({n})")
    assert long == []


def test_no_long_module():
    long = [f"{p.relative_to(REPO)} ({n})" for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert long == []


def test_no_loose_top_level_modules():
    """The top level holds the package's ``__init__`` and the public ``api`` only."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "api.py"]


def test_nothing_in_the_package_imports_the_public_api():
    users = [n for n in MODULES if n != "espnet_mvc.api" and "espnet_mvc.api" in
             _imported(n, MODULES[n])]
    assert users == []
