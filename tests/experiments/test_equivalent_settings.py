"""Settings that give the same numbers name the same result cells (and only those)."""

import numpy as np
import pytest

from skpoison.datasets import load_dataset
from skpoison.experiments import cross_validate_lambda, make_config
from skpoison.experiments import _strategies
from skpoison.experiments._runner import attack_defaults, data_fingerprint
from skpoison.experiments._strategies import make_estimator


def cell_key(config):
    """The name the sweep gives the config's cells (less the data's fingerprint)."""
    return config.key(strategies=None, repetitions=None, data="-",
                      defaults=attack_defaults(config))


# (make_config's arguments, spellings of them that must name the same cells)
EQUIVALENT = [
    (dict(large_lambda=0.0), [dict(large_lambda=0), dict(large_lambda=-0.0),
                              dict(large_lambda=np.int64(0))]),
    (dict(model="mlp", large_lambda=-2.0), [dict(model="mlp", large_lambda=-2)]),
    (dict(cv_grid=(-8.0, -5.0)), [dict(cv_grid=[-8, -5]), dict(cv_grid=(-5.0, -8.0)),
                                  dict(cv_grid=[-8, -5, -8.0]),
                                  dict(cv_grid=np.array([-5, -8]))]),
    (dict(), [dict(cv_grid=[-12, -6, 0]), dict(cv_grid=[0.0, -6.0, -12.0]),
              dict(cv_grid=[-12.0, -6.0, -0.0])]),
    (dict(poison_lr=1.0), [dict(poison_lr=1), dict(poison_lr=np.int64(1))]),
    (dict(lambda_lr=1.0), [dict(lambda_lr=1)]),
    # an option at the value that not passing it stands for
    (dict(), [dict(poison_lr=0.5), dict(lambda_lr=0.2), dict(lambda_step="adam"),
              dict(normalize="point"), dict(victim_steps=10), dict(l1_step="subgradient")]),
    (dict(model="mlp"), [dict(model="mlp", lambda_lr=0.2, lambda_step="adam",
                              victim_steps=5)]),
    (dict(inner_steps=30), [dict(inner_steps=30, victim_steps=30)]),
    # the classes' order (see test_the_class_order_changes_no_number)
    (dict(), [dict(classes=(8, 0)), dict(classes=np.array([8, 0]))]),
    (dict(classes=(3, 5)), [dict(classes=(5, 3))]),
    (dict(classes=(0, 3, 8)), [dict(classes=(8, 3, 0))]),
    # settings a model does not use: a network for LR, Kuncheva's k for networks
    (dict(), [dict(hidden_layer_sizes=(8,)), dict(top_k=(5, 3, 5)),
              dict(top_k=(3.0, np.int64(5)))]),
    (dict(model="mlp"), [dict(model="mlp", top_k=(1, 2))]),
    (dict(dtype="float64"), [dict(dtype=np.float64)]),
    (dict(dtype="float32"), [dict(dtype=np.float32)]),
    # the ratios a float32 array holds: the decimals it was written with
    # (np.float32(0.1) had named the cells of 0.10000000149011612)
    (dict(ratios=(0.1, 0.2)), [dict(ratios=np.array([0.1, 0.2], dtype=np.float32)),
                               dict(ratios=(np.float32(0.2), np.float16(0.1))),
                               dict(ratios=np.array([0.2, 0.1])), dict(ratios=(0.2, 0.1, 0))]),
]


@pytest.mark.parametrize("given, spellings", EQUIVALENT)
def test_equivalent_settings_name_the_same_cells(given, spellings):
    config = make_config("digits", size="tiny", **given)
    for spelling in spellings:
        other = make_config("digits", size="tiny", **spelling)
        assert other == config, spelling
        assert cell_key(other) == cell_key(config), spelling


@pytest.mark.parametrize("setting", [
    dict(large_lambda=-1.0), dict(cv_grid=(-8.0, -4.0)), dict(poison_lr=0.3),
    dict(lambda_lr=0.1), dict(lambda_step="sign"), dict(normalize="batch"),
    dict(victim_steps=11), dict(classes=(3, 5)), dict(top_k=(2, 5)), dict(dtype="float32"),
    dict(penalty="l1", l1_step="proximal"),
])
def test_other_settings_keep_their_own_cells(setting):
    base = make_config("digits", size="tiny", penalty=setting.get("penalty", "l2"))
    assert cell_key(make_config("digits", size="tiny", **setting)) != cell_key(base)


def test_a_network_keeps_its_layers_apart():
    base = make_config("digits", size="tiny", model="mlp")
    other = make_config("digits", size="tiny", model="mlp", hidden_layer_sizes=(8,))
    assert cell_key(other) != cell_key(base)
    assert make_config("digits", size="tiny", model="mlp",
                       hidden_layer_sizes=np.array([8])) == other


def test_the_canonical_spellings_keep_their_keys():
    # The spelling the defaults and the command line write keeps the key it had
    # before the others were made to join it (finished cells keep resuming).
    assert make_config("digits", size="tiny").key() == "970bc8851f"
    assert make_config("digits", size="full", model="mlp", penalty="l1").key() == "08f632fbfe"
    assert make_config("mnist", size="quick", penalty="l1").key() == "94295f1dd9"
    assert make_config("mnist", classes=(3, 5), lambda_lr=0.1).key() == "9545c6a69d"
    assert make_config("digits", size="tiny", victim_steps=7, normalize="batch",
                       lambda_step="sign").key() == "7b25b6b919"


def test_the_class_order_changes_no_number():
    # Rows in file order, the original labels (the estimators encode them sorted):
    # (8, 0) is the pool of (0, 8), so their sweeps share cells.
    one, other = load_dataset("digits", classes=(0, 8)), load_dataset("digits", classes=(8, 0))
    np.testing.assert_array_equal(one.data, other.data)
    np.testing.assert_array_equal(one.target, other.target)
    assert data_fingerprint(one) == data_fingerprint(other)
    assert make_config("digits", classes=(8, 0)).classes is None


def test_the_cv_choice_does_not_depend_on_the_grid_order(monkeypatch):
    # So a reordered grid (or one with repeats) names the same cells: each value is
    # scored on its own, and ties go to the largest λ, not to the first listed.
    def score(model, X, y, train, test):
        return -float(abs(model.lambda_init + 4.0) > 4.0)     # -8, -4 and 0 tie
    monkeypatch.setattr(_strategies, "_fold_score", score)
    X, y = np.random.default_rng(0).normal(size=(12, 2)), np.repeat([0, 1], 6)
    estimator = make_estimator(make_config("digits", size="tiny"), random_state=0)
    chosen = {cross_validate_lambda(estimator, X, y, grid, n_folds=2)
              for grid in ([-12.0, -8.0, -4.0, 0.0], [0.0, -4.0, -8.0, -12.0],
                           [-4.0, 0.0, -12.0, -8.0, 0.0])}
    assert chosen == {0.0}


def test_a_dtype_is_named_by_its_name():
    assert make_config("digits", size="tiny", dtype=np.float32).dtype == "float32"
    with pytest.raises(ValueError, match="float16"):
        make_config("digits", size="tiny", dtype="float16")
