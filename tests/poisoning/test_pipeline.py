"""imbalanced-learn citizenship: sampler protocol, Pipeline, metadata routing."""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone

from skpoison import HypergradRegularizedLR, LabelFlipPoisoner, OptimalPoisoner

imblearn = pytest.importorskip("imblearn")
from imblearn.base import is_sampler  # noqa: E402
from imblearn.pipeline import Pipeline  # noqa: E402


def poisoner():
    return OptimalPoisoner(HypergradRegularizedLR(inner_steps=20), ratios=(0.1,),
                           batch_size=6, outer_steps=2, random_state=0)


def test_is_a_sampler():
    for sampler in (poisoner(), LabelFlipPoisoner()):
        assert is_sampler(sampler)
        assert not hasattr(sampler, "transform")  # else Pipeline treats it as a transformer
        clone(sampler)
    assert poisoner().get_metadata_routing().fit_resample.requests == {
        "X_val": True, "y_val": True}


@pytest.mark.parametrize("explicit_request", [True, False])
def test_pipeline_with_metadata_routing(binary_small, explicit_request):
    X, y, X_val, y_val, X_test, _ = binary_small
    with sklearn.config_context(enable_metadata_routing=True):
        # the victim learns λ on the same trusted set
        victim = HypergradRegularizedLR(inner_steps=20, outer_steps=2).set_fit_request(
            X_val=True, y_val=True)
        step = poisoner()  # requests X_val / y_val by default
        if explicit_request:
            step = step.set_fit_resample_request(X_val=True, y_val=True)
        pipe = Pipeline([("poison", step), ("clf", victim)])
        pipe.fit(X, y, X_val=X_val, y_val=y_val)
        assert pipe.predict(X_test).shape == (len(X_test),)  # no poisoning at predict
    fitted = pipe.named_steps["poison"]
    assert fitted.results_[-1].n_poison == 6
    # the classifier was trained on the poisoned set
    reference = HypergradRegularizedLR(inner_steps=20, outer_steps=2).fit(
        fitted.results_[-1].X, fitted.results_[-1].y, X_val=X_val, y_val=y_val)
    np.testing.assert_allclose(pipe.named_steps["clf"].coef_, reference.coef_)


def test_pipeline_without_routing_says_how(binary_small):
    X, y, X_val, y_val = binary_small[:4]
    pipe = Pipeline([("poison", poisoner()),
                     ("clf", HypergradRegularizedLR(inner_steps=20, outer_steps=1))])
    # imbalanced-learn 0.14 does not forward step__param to fit_resample
    with pytest.raises(ValueError, match="metadata"):
        pipe.fit(X, y, poison__X_val=X_val, poison__y_val=y_val)


def test_poisoner_first_then_preprocessing(binary_small):
    # The documented order: the attacker poisons raw data, and transform_input
    # sends X_val through the scaler to the victim only.
    from sklearn.preprocessing import StandardScaler

    X, y, X_val, y_val = binary_small[:4]
    with sklearn.config_context(enable_metadata_routing=True):
        victim = HypergradRegularizedLR(inner_steps=20, outer_steps=2).set_fit_request(
            X_val=True, y_val=True)
        try:
            pipe = Pipeline([("poison", poisoner()), ("scale", StandardScaler()),
                             ("clf", victim)], transform_input=["X_val"])
        except TypeError:
            pytest.skip("this imbalanced-learn's Pipeline has no transform_input")
        pipe.fit(X, y, X_val=X_val, y_val=y_val)
    poisoned = pipe.named_steps["poison"].results_[-1]
    scaler = StandardScaler().fit(poisoned.X)
    reference = HypergradRegularizedLR(inner_steps=20, outer_steps=2).fit(
        scaler.transform(poisoned.X), poisoned.y, X_val=scaler.transform(X_val), y_val=y_val)
    np.testing.assert_allclose(pipe.named_steps["clf"].coef_, reference.coef_)


@pytest.mark.parametrize("make", [poisoner, LabelFlipPoisoner])
def test_pandas_in_pandas_out(binary_small, make):
    pd = pytest.importorskip("pandas")
    import warnings

    from sklearn.linear_model import LogisticRegression

    X, y, X_val, y_val, X_test, _ = binary_small
    columns = [f"pixel{i}" for i in range(X.shape[1])]
    index = pd.RangeIndex(1000, 1000 + len(X))[::-1]   # not 0..n-1, not increasing
    X_df = pd.DataFrame(X, columns=columns, index=index)
    y_s = pd.Series(y, name="digit", index=index)
    X_val = pd.DataFrame(X_val, columns=columns)   # (unnamed, it would warn as in predict)
    step = make().set_params(ratios=(0.1,), random_state=0)
    X_p, y_p = step.fit_resample(X_df, y_s, X_val=X_val, y_val=y_val)
    assert isinstance(X_p, pd.DataFrame) and list(X_p.columns) == columns
    assert isinstance(y_p, pd.Series) and y_p.name == "digit" and y_p.dtype == y_s.dtype
    # Replaced rows stay where they were: the output aligns with the input by index.
    assert X_p.index.equals(index) and y_p.index.equals(index)
    kept = ~step.results_[-1].poison_mask
    assert X_p[kept].equals(X_df[kept]) and y_p[kept].equals(y_s[kept])
    injected = make().set_params(ratios=(0.1,), random_state=0, mode="inject")
    X_i, y_i = injected.fit_resample(X_df, y_s, X_val=X_val, y_val=y_val)
    assert X_i.index.equals(pd.RangeIndex(len(X_i))) and y_i.index.equals(X_i.index)
    np.testing.assert_array_equal(X_p.to_numpy(), step.results_[-1].X)
    # Copies: editing the output leaves results_ alone.
    X_p.iloc[0, 0] = -1.0
    assert step.results_[-1].X[0, 0] != -1.0
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("poison", make().set_params(ratios=(0.1,), random_state=0)),
                         ("clf", LogisticRegression())]).fit(X_df, y_s, X_val=X_val,
                                                             y_val=y_val)
    assert list(pipe.named_steps["clf"].feature_names_in_) == columns
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted without feature names" warning
        pipe.predict(pd.DataFrame(X_test, columns=columns))


def test_poisoner_behind_a_scaler_warns(binary_small):
    # imbalanced-learn hands a sampler the untransformed X_val, even with
    # transform_input: a poisoner after a scaler would clone raw points.
    from sklearn.preprocessing import StandardScaler

    from skpoison import TrustedSetWarning

    X, y, X_val, y_val = binary_small[:4]
    with sklearn.config_context(enable_metadata_routing=True):
        victim = HypergradRegularizedLR(inner_steps=20, outer_steps=0).set_fit_request(
            X_val=False, y_val=False)
        pipe = Pipeline([("scale", StandardScaler()), ("poison", LabelFlipPoisoner()),
                         ("clf", victim)])
        with pytest.warns(TrustedSetWarning, match="X_val does not look like.* a poisoner "
                                                   "behind a transformer.* put the poisoner"):
            pipe.fit(X * 16, y, X_val=X_val * 16, y_val=y_val)


@pytest.mark.parametrize("mode", ["replace", "inject"])
@pytest.mark.parametrize("dtype", ["category", "Int64"])
def test_pandas_labels_keep_their_extension_dtype(binary_small, dtype, mode):
    # Pandas in, pandas out, with the labels' own dtype (not int64 for category
    # labels, nor float64 for nullable Int64 ones).
    pd = pytest.importorskip("pandas")
    X, y, X_val, y_val = binary_small[:4]
    y_s = pd.Series(y, name="digit").astype(dtype)
    _, y_p = LabelFlipPoisoner(ratios=(0.1,), mode=mode, random_state=0).fit_resample(
        X, y_s, X_val=X_val, y_val=y_val)
    assert y_p.dtype == y_s.dtype
    assert set(y_p.tolist()) == set(y.tolist())


def test_a_one_column_frame_of_labels_comes_back_as_one(binary_small):
    # As imbalanced-learn's samplers return it (was a bare ndarray).
    pd = pytest.importorskip("pandas")
    X, y, X_val, y_val = binary_small[:4]
    index = pd.RangeIndex(500, 500 + len(X))
    y_frame = pd.DataFrame({"digit": y}, index=index)
    with pytest.warns(Warning, match="column-vector y"):   # (scikit-learn's own)
        _, y_p = LabelFlipPoisoner(ratios=(0.1,), random_state=0).fit_resample(
            X, y_frame, X_val=X_val, y_val=y_val)
    assert isinstance(y_p, pd.DataFrame) and list(y_p.columns) == ["digit"]
    assert y_p.index.equals(index) and y_p["digit"].dtype == y_frame["digit"].dtype


def test_the_trusted_set_may_be_given_by_position_as_to_the_estimators(binary_small):
    # (fit and fit_resample took it by keyword only: "takes 3 positional arguments")
    X, y, X_val, y_val = binary_small[:4]
    by_position = LabelFlipPoisoner(ratios=(0.1,), random_state=0).fit_resample(
        X, y, X_val, y_val)
    by_keyword = LabelFlipPoisoner(ratios=(0.1,), random_state=0).fit_resample(
        X, y, X_val=X_val, y_val=y_val)
    for got, want in zip(by_position, by_keyword):
        np.testing.assert_array_equal(got, want)
    fitted = poisoner().fit(X, y, X_val, y_val)
    assert fitted.results_[-1].n_poison > 0
