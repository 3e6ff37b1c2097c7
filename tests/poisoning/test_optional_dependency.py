"""imbalanced-learn is optional: skpoison imports and samples without it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_and_use_without_imblearn():
    code = (
        "import sys; sys.modules['imblearn'] = None\n"
        "import numpy as np, skpoison\n"
        "from skpoison.poisoning._compat import HAS_IMBLEARN\n"
        "assert not HAS_IMBLEARN\n"
        "rng = np.random.default_rng(0)\n"
        "X, y = rng.random((40, 3)), np.arange(40) % 2\n"
        "flip = skpoison.LabelFlipPoisoner(ratios=(0.1,), batch_size=4, random_state=0)\n"
        "X_p, y_p = flip.fit_resample(X, y, X_val=X[:10], y_val=y[:10])\n"
        "assert X_p.shape == (40, 3) and flip.__sklearn_tags__().estimator_type == 'sampler'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
