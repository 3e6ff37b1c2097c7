"""LabelFlipPoisoner: the same schedule, no optimization."""

import numpy as np

from skpoison import LabelFlipPoisoner


def test_label_flip_contract(binary_small):
    X, y, X_val, y_val = binary_small[:4]
    labels = np.where(y == 0, "zero", "eight")
    val_labels = np.where(y_val == 0, "zero", "eight")
    flip = LabelFlipPoisoner(ratios=(0.0, 0.1, 0.2), batch_size=5, random_state=0)
    X_p, y_p = flip.fit_resample(X, labels, X_val=X_val, y_val=val_labels)
    assert [r.n_poison for r in flip.results_] == [0, 6, 12]
    for result in flip.results_:
        assert result.log_lambda is None and np.isnan(result.val_loss)
        assert result.val_loss_path.shape == (0,) and result.lambda_path.shape[0] == 0
        poison = result.poison_mask
        # clones of distinct validation points, with the other label
        source = [np.flatnonzero((X_val == row).all(1))[0] for row in result.X[poison]]
        assert len(set(source)) == result.n_poison
        assert (val_labels[source] != result.y[poison]).all()
    np.testing.assert_array_equal(X_p, flip.results_[-1].X)
    np.testing.assert_array_equal(flip.results_[0].X, X)
    assert y_p.dtype == labels.dtype


def test_reuse_validation_cycles_without_duplicates_in_a_batch(binary_small):
    X, y, X_val, y_val = binary_small[:4]
    X_val, y_val = X_val[:8], y_val[:8]
    flip = LabelFlipPoisoner(ratios=(0.3,), batch_size=8, mode="inject",
                             reuse_validation=True, random_state=0)
    X_p, _ = flip.fit_resample(X, y, X_val=X_val, y_val=y_val)
    poison = X_p[flip.results_[0].poison_mask]
    assert poison.shape[0] == 18  # three batches of 6 from 8 validation points
    source = np.array([np.flatnonzero((X_val == row).all(1))[0] for row in poison])
    for batch in source.reshape(3, 6):
        assert len(set(batch)) == 6
    assert np.bincount(source, minlength=8).max() <= 3
