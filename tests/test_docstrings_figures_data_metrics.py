"""The public names of the figures, data sets and metrics keep to the numpydoc standard
(DESIGN.md section 4): their parameters documented under their own names, and examples
that run in the suite (``--doctest-modules``), not only skipped ones."""

import inspect
import re

import pytest
from numpydoc_sections import names as _names
from numpydoc_sections import sections as _sections

from skpoison import datasets, metrics
from skpoison import experiments
from skpoison.experiments import _registry

_FIGURE_MODULES = ("_figures", "_plots", "_plot_synthetic", "_registry")


def _public():
    """``(qualified name, object)`` of every documented callable of this area."""
    found = []
    for package in (datasets, metrics, experiments):
        for name in package.__all__:
            obj = getattr(package, name)
            if not callable(obj):
                continue        # (data: FIGURES, SIZES, DATASET_NAMES, ...)
            if package is experiments and not obj.__module__.endswith(_FIGURE_MODULES):
                continue        # (the sweeps' modules: not this area's)
            found.append((f"{package.__name__}.{name}", obj))
    # The classes of the registry's public data (FIGURES' and STRATEGIES' values).
    found += [(f"{_registry.__name__}.{cls.__name__}", cls)
              for cls in (_registry.FigureSpec, _registry.Strategy)]
    return found


PUBLIC = _public()


def _signature_names(obj):
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    return [stars.get(p.kind, "") + p.name for p in inspect.signature(obj).parameters.values()]


def test_the_area_has_public_names():
    names = {name.rsplit(".", 1)[1] for name, _ in PUBLIC}
    assert {"reproduce", "fig1", "fig14", "plot_synthetic", "plot_test_error", "load_dataset",
            "fetch_cifar10", "kuncheva_index", "FigureSpec"} <= names


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_parameters_section_names_the_signature(name, obj):
    documented = _names(_sections(obj.__doc__).get("Parameters", []))
    assert documented == _signature_names(obj)


# fig1 ... fig14 each run a sweep (seconds to hours): their examples are skipped, and
# reproduce's run tiny ones (fig1; fig2 then fig5, reading fig2's cells).
_SWEEPS = {f"skpoison.experiments.fig{i}" for i in range(1, 15)}


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_examples_run_in_the_suite(name, obj):
    sections = _sections(obj.__doc__)
    assert "Examples" in sections, f"{name} has no Examples section"
    prompts = [line.lstrip()[4:] for line in sections["Examples"]
               if line.lstrip().startswith(">>>")]
    # (an import alone shows no use)
    run = [line for line in prompts if "+SKIP" not in line
           and not re.match(r"(from \S+ )?import ", line)]
    if name in _SWEEPS:
        assert prompts and not run
    else:
        assert run, f"{name}: its examples are skipped, or only import"


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_sections_are_numpydocs_own(name, obj):
    known = {"Parameters", "Returns", "Yields", "Raises", "Warns", "Warnings", "See Also",
             "Notes", "References", "Examples", "Attributes", "Methods", "Other Parameters"}
    assert set(_sections(obj.__doc__)) <= known
