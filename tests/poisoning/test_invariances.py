"""What every optimal attack keeps, whatever its settings (hypothesis).

Random small problems (features in [0, 1], n <= 60 rows, d <= 8 columns, 2 or
3 classes), victims with short loops (T <= 30), at most 3 attack steps. All
checks are exact: the attack copies, clips and selects, it does not round.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skpoison import HypergradMLP, HypergradRegularizedLR, LabelFlipPoisoner, OptimalPoisoner

# derandomize: the same examples in every run (CI must not depend on a draw).
FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    """Training and trusted sets in [0, 1]; every class in both."""
    n, d = draw(st.integers(20, 60)), draw(st.integers(1, 8))
    n_classes = draw(st.sampled_from([2, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.uniform(size=(n + 30, d))
    y = (X @ rng.normal(size=(d, n_classes))
         + 0.3 * rng.normal(size=(n + 30, n_classes))).argmax(1)
    y[:n_classes] = y[n:n + n_classes] = np.arange(n_classes)
    return X[:n], y[:n], X[n:], y[n:]


victims = st.one_of(
    st.builds(HypergradRegularizedLR, penalty=st.sampled_from(["l2", "l1"]),
              lambda_mode=st.sampled_from(["single", "per_feature"]),
              inner_steps=st.integers(1, 30)),
    st.builds(HypergradMLP, hidden_layer_sizes=st.just((3,)), inner_lr=st.just(0.1),
              inner_steps=st.integers(1, 30), random_state=st.integers(0, 2**16)))


@st.composite
def schedules(draw):
    """The settings an OptimalPoisoner shares with LabelFlipPoisoner."""
    ratios = draw(st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.3]), min_size=1,
                           max_size=3, unique=True))
    return dict(ratios=tuple(ratios), batch_size=draw(st.integers(1, 8)),
                mode=draw(st.sampled_from(["replace", "inject"])),
                label_strategy=draw(st.sampled_from(["random", "next"])),
                reuse_validation=draw(st.booleans()),
                random_state=draw(st.integers(0, 2**32 - 1)))


def read_only(*arrays):
    copies = tuple(np.array(a) for a in arrays)
    for a in copies:
        a.flags.writeable = False
    return copies


def box(draw, d):
    """A feature_range around [0, 1]: scalars or per-feature bounds (read-only)."""
    if draw(st.booleans()):
        return 0.0, 1.0
    low = -np.array(draw(st.lists(st.sampled_from([0.0, 0.25]), min_size=d, max_size=d)))
    high = 1.0 + np.array(draw(st.lists(st.sampled_from([0.0, 0.5]), min_size=d, max_size=d)))
    return read_only(low, high)


@FAST
@given(problems(), victims, schedules(), st.sampled_from(["learn", "fixed"]),
       st.integers(1, 3), st.sampled_from([0.1, 5.0]), st.data())
def test_the_attack_keeps_its_inputs_the_box_and_the_clean_rows(data, victim, schedule,
                                                                hyperparams, steps, poison_lr,
                                                                draw):
    X, y, X_val, y_val = read_only(*data)
    originals = [a.copy() for a in (X, y, X_val, y_val)]
    low, high = box(draw.draw, X.shape[1])
    attack = OptimalPoisoner(victim, hyperparams=hyperparams, outer_steps=steps,
                             poison_lr=poison_lr, feature_range=(low, high), **schedule)
    X_p, y_p = attack.fit_resample(X, y, X_val=X_val, y_val=y_val)
    for before, after in zip(originals, (X, y, X_val, y_val)):
        np.testing.assert_array_equal(after, before)
    assert [r.ratio for r in attack.results_] == sorted(schedule["ratios"])
    for result in attack.results_:
        mask = result.poison_mask
        assert mask.sum() == result.n_poison == round(result.ratio * len(X))
        poison = result.X[mask]
        assert ((poison >= low) & (poison <= high)).all()
        assert set(result.y[mask]) <= set(y)
        if schedule["mode"] == "replace":
            assert result.X.shape == X.shape
            np.testing.assert_array_equal(result.X[~mask], X[~mask])
            np.testing.assert_array_equal(result.y[~mask], y[~mask])
        else:
            np.testing.assert_array_equal(mask, np.arange(len(result.X)) >= len(X))
            np.testing.assert_array_equal(result.X[:len(X)], X)
            np.testing.assert_array_equal(result.y[:len(X)], y)
    np.testing.assert_array_equal(X_p, attack.results_[-1].X)
    np.testing.assert_array_equal(y_p, attack.results_[-1].y)


@FAST
@given(problems(), victims, schedules(), st.sampled_from(["learn", "fixed"]))
def test_an_attack_of_no_steps_is_label_flipping(data, victim, schedule, hyperparams):
    # LabelFlipPoisoner: "exactly the initial poisoning points of OptimalPoisoner"
    X, y, X_val, y_val = data
    optimal = OptimalPoisoner(victim, hyperparams=hyperparams, outer_steps=0, **schedule)
    optimal.fit(X, y, X_val=X_val, y_val=y_val)
    flip = LabelFlipPoisoner(**schedule).fit(X, y, X_val=X_val, y_val=y_val)
    assert len(optimal.results_) == len(flip.results_)
    for ours, theirs in zip(optimal.results_, flip.results_):
        assert ours.ratio == theirs.ratio and ours.n_poison == theirs.n_poison
        np.testing.assert_array_equal(ours.poison_mask, theirs.poison_mask)
        np.testing.assert_array_equal(ours.X, theirs.X)
        np.testing.assert_array_equal(ours.y, theirs.y)
