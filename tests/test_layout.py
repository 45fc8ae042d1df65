"""The layout: each step's rules, scripts, library subpackage and tests under the step's name;
every module declares ``__all__``; each subpackage re-exports exactly its modules' public names;
the modules the workflow imports when it loads (settings included) import no heavy package; the
library's modules import one another without circles."""

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "image3"
STEPS = (
    "tweakreg",
    "assign_mtwcs",
    "skymatch",
    "outlier_detection",
    "resample",
    "exposure_products",
    "source_catalog",
    "tiles",
    "simulate",
)
PACKAGES = sorted(p.parent.name for p in LIBRARY.glob("*/__init__.py"))
RULES = sorted((REPO / "rules").glob("*.smk"))
MODULES = sorted(p for p in LIBRARY.rglob("*.py") if p.name != "__init__.py")


def _dotted(path):
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def _declared_all(path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


@pytest.mark.parametrize("step", STEPS)
def test_each_step_has_its_rule_library_and_tests_under_its_name(step):
    assert (REPO / "rules" / f"{step}.smk").is_file()
    assert (LIBRARY / step / "__init__.py").is_file()
    assert list((REPO / "tests" / step).glob("test_*.py")), f"no tests/{step}/test_*.py"


def test_each_script_is_named_after_its_rule_in_its_steps_folder():
    """scripts/<step>/<rule>.py: rule <rule> is in rules/<step>.smk, and every script is used."""
    rules = {p.stem: re.findall(r"^\s*(?:rule|checkpoint) (\w+):", p.read_text(), re.M) for p in RULES}
    used = {s for p in RULES for s in re.findall(r'"\.\./(scripts/[\w/]+\.py)"', p.read_text())}
    scripts = sorted(p.relative_to(REPO) for p in (REPO / "scripts").rglob("*.py"))
    assert not [s for s in scripts if s.parent.name not in rules or s.stem not in rules[s.parent.name]]
    assert sorted(map(str, scripts)) == sorted(used)


@pytest.mark.parametrize("path", MODULES, ids=_dotted)
def test_every_module_declares_its_public_names(path):
    names = _declared_all(path)
    assert names is not None, f"{_dotted(path)} has no __all__"
    module = importlib.import_module(_dotted(path))
    assert not [n for n in names if n.startswith("_")], "private names in __all__"
    assert not [n for n in names if not hasattr(module, n)], "__all__ names what the module lacks"


@pytest.mark.parametrize("package", PACKAGES)
def test_each_subpackage_re_exports_exactly_its_modules_public_names(package):
    modules = sorted(p for p in (LIBRARY / package).glob("*.py") if not p.name.startswith("_"))
    owners = {}
    for path in modules:
        for name in _declared_all(path):
            assert name not in owners, f"{name} is public in both {owners.get(name)} and {path.stem}"
            owners[name] = path.stem
    shadowed = set(owners) & {p.stem for p in modules}
    assert not shadowed, f"public names that are also module names: {sorted(shadowed)}"
    pkg = importlib.import_module(f"image3.{package}")
    assert sorted(pkg.__all__) == sorted(owners)
    for name, module in owners.items():
        assert getattr(pkg, name) is getattr(importlib.import_module(f"image3.{package}.{module}"), name)


def test_the_workflow_loads_without_heavy_imports():
    """What rules/common.smk imports (settings dataclasses included) stays light: Snakemake loads it
    for every command, dry runs and each cluster job included."""
    imports = [line for line in (REPO / "rules" / "common.smk").read_text().splitlines() if "image3" in line]
    code = "\n".join(line for line in imports if line.startswith(("from ", "import ")))
    heavy = ("astropy", "scipy", "photutils", "gwcs", "stdatamodels", "tweakwcs", "drizzle", "matplotlib")
    check = f"{code}\nimport sys\nprint(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"the workflow's load imports {result.stdout.strip()}"


def _imported_modules(path):
    """The ``image3`` modules ``path`` imports, at its top or inside functions (dotted names; a
    package's ``from . import x`` counts as the module ``x`` when it is one)."""
    here = _dotted(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "image3"}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            if module.split(".")[0] != "image3":
                continue
            for alias in node.names:
                child = f"{module}.{alias.name}"
                is_module = (REPO / Path(*child.split("."))).with_suffix(".py").exists()
                found.add(child if is_module else module)
    return found - {".".join(here)}


def test_the_library_has_no_import_circles():
    """No chain of imports among ``image3``'s modules (packages' re-exports aside) comes back to
    where it started, lazy imports inside functions included: the layers stand one on another."""
    graph = {_dotted(p): {m for m in _imported_modules(p) if not m.endswith("__init__")} for p in MODULES}
    graph = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    state, circles = {}, []

    def visit(module, trail):
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                circles.append(trail[trail.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []
