"""DESIGN.md section 3: subpackages import only from the layers above them."""

import ast
from pathlib import Path

import skpoison

ORDER = ["_torch_utils", "_warn", "_files", "_hashing", "_box", "_messages", "_constraints",
         "_progress", "hypergrad", "models", "estimators", "poisoning", "datasets", "metrics",
         "experiments"]
RANK = {name: i for i, name in enumerate(ORDER)}
ROOT = Path(skpoison.__file__).parent


def _imports(path):
    package = ".".join(("skpoison",) + path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(("skpoison",) + path.relative_to(ROOT).parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            elif node.module:
                module = node.module
            else:
                continue
            yield node.lineno, module
            if module == "skpoison":   # from .. import hypergrad: the names are modules
                for alias in node.names:
                    yield node.lineno, f"{module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def test_no_module_imports_a_layer_below_its_own():
    wrong = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        layer = parts[0]
        if layer not in RANK:          # __init__, __main__, _lazy: outside the order
            continue
        for line, module in _imports(path):
            target = module.split(".")
            if target[0] != "skpoison" or len(target) < 2 or target[1] not in RANK:
                continue
            if RANK[target[1]] > RANK[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_engine_never_imports_scikit_learn():
    for path in (ROOT / "hypergrad").rglob("*.py"):
        for line, module in _imports(path):
            assert not module.startswith("sklearn"), f"{path.name}:{line}"


def test_a_layer_imported_by_its_name_counts():
    # ``from .. import hypergrad`` imports the layer itself, as ``from ..hypergrad import``
    # does: the check must see it (it saw only "skpoison").
    imported = {module for _, module in _imports(ROOT / "estimators" / "_warnings.py")}
    assert "skpoison.hypergrad" in imported
