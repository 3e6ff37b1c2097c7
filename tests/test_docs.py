"""The documentation agrees with the code: DESIGN.md's layout and docs/experiments.md's
reader of cell files."""

import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_design_names_every_module():
    # DESIGN.md section 3 lists the package's layout: every module is named there
    # (by file name), so that a reader finds where each piece lives.
    design = (ROOT / "DESIGN.md").read_text(encoding="utf-8")
    layout = design[design.index("## 3. Layout"):design.index("## 4. Conventions")]
    unnamed = sorted(str(path.relative_to(ROOT))
                     for path in (ROOT / "skpoison").rglob("*.py")
                     if path.name not in ("__init__.py", "__main__.py")
                     and path.name not in layout)
    assert unnamed == []


def _python_block(text, marker):
    blocks = [block for block in re.findall(r"```python\n(.*?)```", text, re.S)
              if marker in block]
    assert len(blocks) == 1, f"one python block of docs/experiments.md holds {marker!r}"
    return blocks[0]


def test_experiments_md_reads_a_cell_file(tmp_path):
    # docs/experiments.md shows how to read a cell file outside skpoison: its
    # object_hook turns the tagged non-finite floats back into floats.
    from skpoison.experiments._json_files import write_json_atomic

    path = tmp_path / "cells" / "attack-0-no_reg-r0.json"
    write_json_atomic(path, {"cell": "attack-0-no_reg-r0",
                             "rows": [{"log_lambda": -math.inf, "test_error": 0.25,
                                       "kuncheva_k5": math.nan}]})
    block = _python_block((ROOT / "docs" / "experiments.md").read_text(encoding="utf-8"),
                          "object_hook")
    namespace = {}
    exec(block.replace("OUT/cells/<name>.json", str(path)), namespace)
    row = namespace["cell"]["rows"][0]
    assert row["log_lambda"] == -math.inf and row["test_error"] == 0.25
    assert math.isnan(row["kuncheva_k5"])


def test_design_states_the_presets_the_help_points_to():
    # `skpoison --help` sends the reader to DESIGN.md section 6 for the --full
    # and --quick sizes: the section states each preset's repetitions, T and
    # attack steps, as make_config builds them.
    from skpoison.experiments import make_config

    design = (ROOT / "DESIGN.md").read_text(encoding="utf-8")
    section = " ".join(design[design.index("## 6. Experiment defaults"):].split())
    bullet = section[section.index("Size presets"):].split(" - ")[0]
    for size in ("full", "quick"):
        config = make_config("mnist", size=size)
        assert (f"{config.repetitions} repetitions, T = {config.inner_steps}" in bullet
                and f"{config.attack_steps} attack steps" in bullet
                and f"--{size}" in bullet), size
