"""The package's shape: no import cycle, no unexplained import inside a function, a README map of every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "beatgan"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, tree: ast.AST) -> set[str]:
    """Package modules a module imports anywhere (top level or inside functions)."""
    found = set()
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name, ast.parse(path.read_text())) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a list of modules, or None (depth-first search with three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    graph = import_graph()
    # a package's __init__ re-exporting its submodules is not a cycle through them
    for name in graph:
        if MODULES[name].name != "__init__.py":
            graph[name] = {m for m in graph[name] if not (MODULES[m].name == "__init__.py" and name.startswith(m + "."))}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_inside_functions_say_why(name):
    """Imports inside functions stay only where deliberate (backend first, fast --help), each with a reason."""
    source = MODULES[name].read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    unexplained = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                line = lines[node.lineno - 1]
                if not re.search(r"#\s*(here|noqa)\b.*\S", line):
                    unexplained.append(f"{name}:{node.lineno}: {line.strip()}")
    assert not unexplained, "imports inside functions need a one-line reason (# here: ...):\n" + "\n".join(unexplained)


def test_no_private_module_whose_names_others_import():
    private = [name for name in MODULES if name.rpartition(".")[2].startswith("_") and not name.endswith("__main__")]
    assert private == []


def test_readme_layout_lists_every_module():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## How the code is laid out", 1)
    assert len(section) == 2, "README.md has no 'How the code is laid out' section"
    text = section[1].split("\n## ", 1)[0]
    files = {str(p.relative_to(ROOT)) for p in PACKAGE.glob("*.py")} | {"beatgan/corpus/", "wavfile24.py"}
    missing = sorted(f for f in files if f"`{f}`" not in text)
    assert not missing, f"README layout section does not name {missing}"


def test_model_and_training_are_found_by_module_name():
    """A reader finds the networks, the WGAN-GP step, the training driver and the novelty search by file name."""
    import importlib

    places = {"beatgan.model": ["build_generator", "build_discriminator"], "beatgan.losses": ["critic_loss"],
              "beatgan.gan": ["WaveGAN"], "beatgan.gan_jax": ["train_step_jax"], "beatgan.run": ["train"],
              "beatgan.novelty": ["nearest", "novelty_report"]}
    for module, names in places.items():
        if module == "beatgan.gan_jax":
            source = MODULES[module].read_text()
            assert all(f"def {n}(" in source for n in names)
            continue
        loaded = importlib.import_module(module)
        assert all(hasattr(loaded, n) for n in names), module


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.endswith("__main__")))
def test_import_star_works_and_all_names_only_what_the_module_defines(name):
    """``from beatgan.<module> import *`` works, and every name in ``__all__`` is the module's."""
    import importlib

    module = importlib.import_module(name)
    namespace: dict = {}
    exec(f"from {name} import *", namespace)  # raises AttributeError on a name __all__ lists but the module lacks
    for exported in getattr(module, "__all__", ()):
        assert exported in namespace, f"{name}.__all__ names {exported!r}"


def private_uses(source: str) -> list[str]:
    """Private names (``_x``, not dunders) of beatgan modules that a test imports or reads."""
    tree = ast.parse(source)
    aliases, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("beatgan", "wavfile24"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"from {node.module} import {alias.name}")
                elif f"{node.module}.{alias.name}" in MODULES or node.module == "beatgan":
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("beatgan", "wavfile24"):
                    aliases.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.append(f"{ast.unparse(node)} (line {node.lineno})")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("setattr", "getattr") and node.args:
            target = node.args[1] if len(node.args) > 1 else None
            if isinstance(node.args[0], ast.Name) and node.args[0].id in aliases and isinstance(target, ast.Constant) \
                    and str(target.value).startswith("_") and not str(target.value).startswith("__"):
                found.append(f"{ast.unparse(node)} (line {node.lineno})")
    return found


def test_private_use_finder_finds_planted_uses():
    planted = ("from beatgan.novelty import _block_shape\nfrom beatgan import evaluate as ev\nev._ndb(1)\n"
               "import beatgan.data\nbeatgan.data._x\nmonkeypatch.setattr(ev, '_cheap', 1)\n")
    assert len(private_uses(planted)) == 3  # setattr(monkeypatch...) has no module first argument
    assert private_uses("from beatgan import evaluate as ev\nev.fad(1)\nev.__all__\n") == []
    assert len(private_uses("from beatgan import search\ngetattr(search, '_dots')\n")) == 1


@pytest.mark.parametrize("path", sorted((ROOT / "tests").glob("*.py")), ids=lambda p: p.name)
def test_no_test_uses_a_private_name_of_the_package(path):
    """Tests reach the package through its public names, so a refactor that keeps them keeps the tests."""
    assert private_uses(path.read_text()) == []


MAX_FUNCTION_LINES = 80  # lines of code (no docstring, comments or blank lines)


def function_lengths(source: str) -> dict[str, tuple[int, str]]:
    """Lines of code and docstring of every function (methods as Class.method)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found = {}

    def visit(node, prefix=""):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(child) or ""
                first = child.body[0]
                start = first.end_lineno + 1 if doc else first.lineno
                code = [ln for ln in lines[start - 1 : child.end_lineno] if ln.strip() and not ln.strip().startswith("#")]
                found[prefix + child.name] = (len(code), doc)
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
    visit(tree)
    return found


def test_function_length_counter():
    source = 'def f():\n    """Doc.\n\n    More."""\n    # a comment\n\n    x = 1\n    return x\n'
    assert function_lengths(source) == {"f": (2, "Doc.\n\nMore.")}


@pytest.mark.parametrize("name", sorted(MODULES) + ["wavfile24"])
def test_no_long_function_without_a_reason(name):
    """A function over about 80 lines of code says why in its docstring ("Long because ...")."""
    path = MODULES.get(name, ROOT / "wavfile24.py")
    long = [f"{function} ({length} lines)" for function, (length, doc) in function_lengths(path.read_text()).items()
            if length > MAX_FUNCTION_LINES and "long because" not in doc.lower()]
    assert not long, f"{name}: split these or say why they are long: {long}"


@pytest.mark.parametrize("module", ["beatgan.run"])
def test_importing_the_training_run_does_not_import_pyplot(module):
    """pyplot picks a GUI backend and costs a second; training draws nothing (Keras would import it: backend hides it)."""
    import subprocess
    import sys

    code = (f"import sys, {module}; import beatgan.backend; beatgan.backend.load_keras(); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
            "import matplotlib.pyplot; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
