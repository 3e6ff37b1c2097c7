"""An interrupted attack resumes after its last finished batch, with the same results."""

import os
import warnings

import numpy as np
import pytest
import torch

from skpoison import HypergradMLP, HypergradRegularizedLR, OptimalPoisoner
from skpoison.poisoning import fit_batched
from skpoison.poisoning._cumulative import run_cumulative_attack
from skpoison.poisoning._resume import attack_fingerprint

# The namespace the attack loop runs in (patched to interrupt it).
LOOP = run_cumulative_attack.__globals__

pytestmark = pytest.mark.usefixtures("save_every_batch")


def _attack(estimator, path=None, **params):
    settings = dict(ratios=(0.0, 0.1, 0.2), batch_size=4, outer_steps=3, random_state=0)
    return OptimalPoisoner(estimator, resume_file=path, **{**settings, **params})


def _fit(attack, data):
    X, y, X_val, y_val = data[:4]
    return attack.fit(X, y, X_val=X_val, y_val=y_val)


def _interrupt_after(monkeypatch, n_batches):
    """The attack loop's batches raise KeyboardInterrupt after ``n_batches`` of them."""
    real, calls = LOOP["optimize_batch"], []

    def counted(*args, **kwargs):
        if len(calls) == n_batches:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setitem(LOOP, "optimize_batch", counted)
    return calls


def _assert_same_results(resumed, fresh):
    for got, want in zip(resumed.results_, fresh.results_, strict=True):
        for field in ("X", "y", "poison_mask", "log_lambda", "val_loss_path", "lambda_path"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        assert got.val_loss == want.val_loss


CASES = {
    "lr learned": (HypergradRegularizedLR(inner_steps=20), {}),
    "lr fixed λ": (HypergradRegularizedLR(inner_steps=20),
                   dict(hyperparams="fixed", fixed_lambda=-2.0)),
    "mlp re-drawn weights": (HypergradMLP((3,), inner_steps=10, inner_lr=0.5),
                             dict(reinit_each_step=True)),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("finished", [1, 3])
def test_an_interrupted_attack_resumes_bitwise(case, finished, binary_small, tmp_path,
                                               monkeypatch):
    estimator, params = CASES[case]
    calls = _interrupt_after(monkeypatch, 100)
    fresh = _fit(_attack(estimator, **params), binary_small)
    n_batches = len(calls)             # (and the clean phase, where λ is learned)
    monkeypatch.undo()
    path = tmp_path / "attack.pt"
    calls = _interrupt_after(monkeypatch, finished)
    with pytest.raises(KeyboardInterrupt):
        _fit(_attack(estimator, path, **params), binary_small)
    assert path.exists() and len(calls) == finished

    calls.clear()
    monkeypatch.undo()
    calls = _interrupt_after(monkeypatch, 100)
    resumed = _fit(_attack(estimator, path, **params), binary_small)
    assert len(calls) == n_batches - finished    # the finished batches were not rerun
    _assert_same_results(resumed, fresh)
    assert not path.exists()                     # removed once the attack ended


def test_a_file_of_another_attack_is_started_over(binary_small, tmp_path, monkeypatch):
    estimator = HypergradRegularizedLR(inner_steps=20)
    path = tmp_path / "attack.pt"
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _fit(_attack(estimator, path, poison_lr=0.25), binary_small)
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="holds an attack with other data or settings"):
        resumed = _fit(_attack(estimator, path), binary_small)
    _assert_same_results(resumed, _fit(_attack(estimator), binary_small))



@pytest.mark.parametrize("content", ["bytes", "tensors"])
def test_a_file_that_is_no_resume_file_is_refused_and_kept(binary_small, tmp_path, content):
    # The user's own file (a model they saved, say) at that path: an attack
    # would have replaced it, then deleted it when it ended.
    path = tmp_path / "my_model.pt"
    if content == "bytes":
        path.write_bytes(b"not a torch file")
    else:
        torch.save({"w": torch.ones(3)}, path)
    before = path.read_bytes()
    why = ("it is no file torch saves" if content == "bytes"    # (was torch's "KeyError: 110")
           else "it holds something else")
    with pytest.raises(ValueError, match=f"exists and is not an attack's resume file \\({why}"):
        _fit(_attack(HypergradRegularizedLR(inner_steps=5), path), binary_small)
    assert path.read_bytes() == before


def test_a_damaged_file_is_described_without_torchs_advice_to_its_users(tmp_path):
    # (the warning repeated torch's first line: "Re-running torch.load with
    # weights_only set to False will likely succeed", wrong advice here)
    from skpoison.poisoning._resume import discard_if_not_resume_file

    path = tmp_path / "cell.resume.pt"
    torch.save({"fingerprint": print, "state": None}, path)   # (a global weights_only refuses)
    with pytest.warns(UserWarning) as caught:
        assert discard_if_not_resume_file(path)
    message = str(caught[0].message)
    assert "(UnpicklingError: " in message and "weights_only" not in message
    assert not path.exists()


def test_other_data_is_another_attack(binary_small, tmp_path, monkeypatch):
    estimator = HypergradRegularizedLR(inner_steps=20)
    path = tmp_path / "attack.pt"
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _fit(_attack(estimator, path), binary_small)
    monkeypatch.undo()
    X, y, X_val, y_val = binary_small[:4]
    X_val = X_val.copy()
    X_val[0, 0] = 0.5 if X_val[0, 0] != 0.5 else 0.25
    with pytest.warns(UserWarning, match="other data or settings"):
        _fit(_attack(estimator, path), (X, y, X_val, y_val))


def test_a_resume_file_that_cannot_be_written_fails_before_the_attack(binary_small, tmp_path):
    # It used to run until its first save, then raise IsADirectoryError.
    with pytest.raises(ValueError, match="resume_file=.*does not exist"):
        _fit(_attack(HypergradRegularizedLR(inner_steps=5), tmp_path / "missing" / "a.pt"),
             binary_small)


@pytest.mark.parametrize("named", ["file", "folder"])
def test_a_resume_file_in_a_folder_that_takes_no_file_fails_before_the_attack(
        named, binary_small, tmp_path, monkeypatch):
    # (a read-only folder, a full disk, another user's.) The attack ran its first
    # phases (minutes, for a large one), then failed at its first save, naming
    # the save's hidden temporary file.
    import tempfile

    real = tempfile.TemporaryFile

    def refused(*args, dir=None, **kwargs):
        if dir is not None and os.path.samefile(dir, tmp_path):
            raise PermissionError(13, "Permission denied", str(tmp_path))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    calls = _interrupt_after(monkeypatch, 100)
    path = tmp_path / "attack.pt" if named == "file" else tmp_path
    with pytest.raises(ValueError, match=f"resume_file={str(path)!r} cannot be written: its "
                       f"folder {str(tmp_path)!r} takes no new file \\(Permission denied\\)"):
        _fit(_attack(HypergradRegularizedLR(inner_steps=5), path), binary_small)
    assert calls == []


def test_an_empty_resume_file_is_refused(binary_small, tmp_path, monkeypatch):
    # Path("") is the working folder: the attack wrote attack-<hash>.pt there, unasked.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="resume_file is an empty path"):
        _fit(_attack(HypergradRegularizedLR(inner_steps=5), ""), binary_small)
    assert not list(tmp_path.iterdir())


def test_a_missing_folder_named_with_a_slash_is_refused(binary_small, tmp_path, monkeypatch):
    # Path("runs/") is Path("runs"): the attack wrote a file named runs, unasked.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="names a folder, which does not exist"):
        _fit(_attack(HypergradRegularizedLR(inner_steps=5), "runs/"), binary_small)
    assert not list(tmp_path.iterdir())


def test_a_folder_keeps_one_file_per_attack(binary_small, tmp_path, monkeypatch):
    # The folds of a cross-validation clone one poisoner: with one file they
    # kept starting each other over, and the first to end deleted the others' state.
    estimator = HypergradRegularizedLR(inner_steps=20)
    X, y, X_val, y_val = binary_small[:4]
    other_fold = (X[5:], y[5:], X_val, y_val)
    for data, finished in ((binary_small, 2), (other_fold, 1)):
        _interrupt_after(monkeypatch, finished)
        with pytest.raises(KeyboardInterrupt):
            _fit(_attack(estimator, tmp_path), data)
        monkeypatch.undo()
    assert len(list(tmp_path.glob("attack-*.pt"))) == 2
    calls = _interrupt_after(monkeypatch, 100)
    fresh = _fit(_attack(estimator), binary_small)
    n_batches = len(calls)
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # (no "other data or settings": its own file)
        resumed = _fit(_attack(estimator, tmp_path), binary_small)
    assert len(calls) == n_batches - 2     # resumed after its two finished batches
    _assert_same_results(resumed, fresh)
    assert len(list(tmp_path.glob("attack-*.pt"))) == 1    # the other fold's is kept


@pytest.mark.parametrize("random_state", [None, np.random.RandomState(0)])
def test_resuming_needs_int_seeds(random_state, binary_small, tmp_path):
    attack = _attack(HypergradRegularizedLR(inner_steps=5), tmp_path / "a.pt",
                     random_state=random_state)
    with pytest.raises(ValueError, match="resume_file needs random_state to be an int"):
        _fit(attack, binary_small)
    if random_state is not None:
        attack = _attack(HypergradRegularizedLR(inner_steps=5, random_state=random_state),
                         tmp_path / "a.pt")
        with pytest.raises(ValueError, match="needs the estimator's random_state to be an"):
            _fit(attack, binary_small)


def test_progress_bars_are_not_part_of_the_attack(binary_small, tmp_path, monkeypatch):
    estimator = HypergradRegularizedLR(inner_steps=20)
    path = tmp_path / "attack.pt"
    calls = _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _fit(_attack(estimator, path), binary_small)
    monkeypatch.undo()
    calls = _interrupt_after(monkeypatch, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # (no "other settings" warning)
        _fit(_attack(HypergradRegularizedLR(inner_steps=20, verbose=1), path, verbose=1),
             binary_small)
    assert len(calls) == 5 - 2                    # resumed: 5 phases, 2 done


def test_an_interrupted_attack_closes_its_progress_bars(binary_small, monkeypatch):
    # Left open (while the exception, and so the attack, lives on: an
    # interactive session keeps the last one), the next attack's bars were
    # drawn below them.
    from tqdm import tqdm

    before = set(tqdm._instances)
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt) as interrupted:
        _fit(_attack(HypergradRegularizedLR(inner_steps=5), verbose=1), binary_small)
    assert interrupted.traceback                     # (the attack's frames are alive)
    assert not [bar.desc for bar in set(tqdm._instances) - before]


def test_the_fingerprint_reads_every_value(binary_small):
    # numpy's repr elides long arrays; two boxes that differ in the middle differ.
    high = np.ones(2000)
    other = high.copy()
    other[1000] = 0.5
    arrays = [np.zeros((2, 2000))]
    prints = {attack_fingerprint(_attack(HypergradRegularizedLR(), feature_range=(0.0, h)),
                                 arrays, "cpu") for h in (high, other)}
    assert len(prints) == 2
    base = _attack(HypergradRegularizedLR())
    assert attack_fingerprint(base, arrays, "cpu") != attack_fingerprint(base, arrays, "meta")


def test_a_file_of_another_layout_is_started_over(binary_small, tmp_path):
    path = tmp_path / "attack.pt"
    torch.save({"fingerprint": "x", "state": {}}, path)     # no "format": an older layout
    with pytest.warns(UserWarning, match="written by another version of skpoison"):
        _fit(_attack(HypergradRegularizedLR(inner_steps=5), path), binary_small)


def test_batched_attacks_take_no_resume_file(binary_small, tmp_path):
    attack = _attack(HypergradRegularizedLR(inner_steps=5), tmp_path / "a.pt")
    with pytest.raises(ValueError, match="fit_batched does not resume attacks"):
        fit_batched(attack, [binary_small[:4]], random_states=[0])


def test_saves_are_at_most_once_per_interval(binary_small, tmp_path, monkeypatch):
    from skpoison.poisoning._resume import ResumeFile

    path = tmp_path / "attack.pt"
    _interrupt_after(monkeypatch, 3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ResumeFile.due.__globals__, "SAVE_INTERVAL", 3600.0)
        with pytest.raises(KeyboardInterrupt):
            _fit(_attack(HypergradRegularizedLR(inner_steps=20), path), binary_small)
    assert not path.exists()              # three quick batches: not worth a save yet


def test_a_save_killed_midway_leaves_no_temporary_file_behind(binary_small, tmp_path):
    import subprocess
    import sys

    from skpoison._files import _HOST

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()                                        # a pid no process has now
    torn = tmp_path / f".attack.pt.{_HOST}.{process.pid}.0badf00d.tmp"
    torn.write_bytes(b"half a torch fi")
    _fit(_attack(HypergradRegularizedLR(inner_steps=5), tmp_path / "attack.pt"), binary_small)
    assert not torn.exists()


def test_the_fingerprint_reads_the_estimators_parameters():
    # An attack on a victim with another T or λ_0 must not resume from the first
    # one's file: the estimator's parameters are part of the fingerprint.
    arrays = [np.zeros((3, 2))]
    prints = {attack_fingerprint(_attack(estimator), arrays, "cpu")
              for estimator in (HypergradRegularizedLR(inner_steps=20),
                                HypergradRegularizedLR(inner_steps=30),
                                HypergradRegularizedLR(inner_steps=20, lambda_init=-2.0))}
    assert len(prints) == 3
    # (its verbosity is not part of the attack)
    assert (attack_fingerprint(_attack(HypergradRegularizedLR(verbose=1)), arrays, "cpu")
            == attack_fingerprint(_attack(HypergradRegularizedLR()), arrays, "cpu"))


def test_the_fingerprint_reads_the_estimators_class():
    # (a subclass with the same parameters computes another attack)
    class Tweaked(HypergradRegularizedLR):
        pass

    arrays = [np.zeros((3, 2))]
    assert (attack_fingerprint(_attack(Tweaked()), arrays, "cpu")
            != attack_fingerprint(_attack(HypergradRegularizedLR()), arrays, "cpu"))


def test_the_save_interval_restarts_at_each_save(tmp_path, monkeypatch):
    # save() restarts the interval (else every batch after the first interval saves).
    import types

    from skpoison.poisoning import _resume

    clock = [1000.0]
    monkeypatch.setattr(_resume, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(_resume, "SAVE_INTERVAL", 10.0)
    resume = _resume.ResumeFile(tmp_path / "attack.pt", "fingerprint")
    clock[0] = 1005.0
    assert not resume.due()
    clock[0] = 1011.0
    assert resume.due()
    resume.save({"batch": torch.tensor(1)})
    clock[0] = 1015.0
    assert not resume.due()              # 4 s after the save
    clock[0] = 1021.5
    assert resume.due()
