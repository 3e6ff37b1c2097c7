"""
A resumable sweep over λ strategies and repetitions
===================================================

:func:`skpoison.experiments.evaluate` is what ``skpoison evaluate`` runs: for
each λ strategy (no regularization, a large constant, 5-fold CV on clean
data, λ learned on the trusted set) and each repetition (a fresh random
split) it runs the worst-case attack over all poisoning ratios and records
the victim's test error. Every finished (strategy, repetition) cell is saved
at once in ``<out>/cells/``; running the same call again skips them, so an
interrupted sweep resumes where it stopped. Cells run in parallel with joblib
(``n_jobs``, ``backend``). This example writes into a temporary folder, so as
to leave no files behind; give ``out`` a lasting folder (``out="sweep-results"``)
to resume across runs.

Set ``SKPOISON_QUICK=1`` for a seconds-long run.
"""

import os
import tempfile

from skpoison.experiments import evaluate, format_table

QUICK = os.environ.get("SKPOISON_QUICK") == "1"

with tempfile.TemporaryDirectory() as out:
    settings = dict(size="tiny" if QUICK else "quick", repetitions=2 if QUICK else 3,
                    out=out, n_jobs=1 if QUICK else -1, plot=False)
    result = evaluate(**settings)
    print(result.table)
    print(f"\n{len(result.rows)} tidy rows in {result.csv}; the first one:")
    print(result.rows[0])

    # Running it again only reads the finished cells back.
    again = evaluate(**settings, verbose=False)
    assert again.rows == result.rows

    # The learned λ per ratio (λ = -inf is no regularization).
    print(format_table(result.rows, "log_lambda", percent=False,
                       title="\nλ = log α used by the victim"))
