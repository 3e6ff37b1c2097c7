import hashlib
import io
import pickle
import tarfile
import warnings

import numpy as np
import pytest

from skpoison.datasets import _cifar, fetch_cifar10, load_dataset

BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
           "data_batch_5", "test_batch")


def _images(labels, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(len(labels), 32, 32, 3), dtype=np.uint8)


def _batch_bytes(images, labels, protocol):
    chw = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # official layout
    return pickle.dumps({b"batch_label": b"tiny", b"labels": list(map(int, labels)),
                         b"data": chw, b"filenames": [b"x.png"] * len(labels)},
                        protocol=protocol)


@pytest.fixture
def tiny_batches(monkeypatch):
    """Six tiny batches (classes 0, 3, 6), their bytes and images."""
    raws, imgs, labels = {}, [], []
    for i, name in enumerate(BATCHES):
        y = np.array([0, 6, 3, 6, 0][: 2 + i % 4])
        x = _images(y, i)
        raws[name] = _batch_bytes(x, y, protocol=2 if i % 2 else 5)
        imgs.append(x)
        labels.append(y)
    md5s = {n: hashlib.md5(r).hexdigest() for n, r in raws.items()}
    monkeypatch.setattr(_cifar, "CIFAR10_MD5", md5s)
    return raws, np.concatenate(imgs), np.concatenate(labels)


def _write_dir(home, raws):
    folder = home / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, raw in raws.items():
        (folder / name).write_bytes(raw)
    return folder


def _expected(imgs, labels, classes):
    keep = np.isin(labels, classes)
    return imgs[keep].reshape(-1, 3072) / 127.5 - 1.0, labels[keep]


def test_reads_official_batches(tmp_path, tiny_batches):
    raws, imgs, labels = tiny_batches
    _write_dir(tmp_path, raws)
    b = fetch_cifar10(data_home=tmp_path, download=False)
    X, y = _expected(imgs, labels, (0, 6))
    np.testing.assert_allclose(b.data, X)
    np.testing.assert_array_equal(b.target, y)
    assert b.data.shape[1] == 3072 and b.feature_range == (-1.0, 1.0)
    assert b.target_names == ["airplane", "frog"] and b.name == "cifar10"
    assert -1 <= b.data.min() and b.data.max() <= 1


def test_reads_tarball(tmp_path, tiny_batches, monkeypatch):
    raws, imgs, labels = tiny_batches
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, raw in raws.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    monkeypatch.setattr(_cifar, "CIFAR10_TAR_MD5", hashlib.md5(tar_path.read_bytes()).hexdigest())
    b = fetch_cifar10(classes=(3, 6), data_home=tmp_path, download=False)
    X, y = _expected(imgs, labels, (3, 6))
    np.testing.assert_allclose(b.data, X)
    np.testing.assert_array_equal(b.target, y)
    monkeypatch.setattr(_cifar, "CIFAR10_TAR_MD5", "0" * 32)
    with pytest.raises(ValueError, match="cifar-10-python.tar.gz.*expected md5 0{32}"):
        fetch_cifar10(data_home=tmp_path, download=False)


def test_truncated_tarball_refused(tmp_path, monkeypatch):
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    tar_path.write_bytes(b"\x1f\x8b\x08\x00 not really")
    monkeypatch.setattr(_cifar, "CIFAR10_TAR_MD5", hashlib.md5(tar_path.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="not a valid CIFAR-10 tarball"):
        fetch_cifar10(data_home=tmp_path, download=False)


class _Trap:
    """Unpickling this would call _trap_hit: it must never happen."""
    def __reduce__(self):
        return (_trap_hit, ())


HITS = []


def _trap_hit():
    HITS.append(1)
    return {}


def test_checksum_mismatch_refused_before_unpickling(tmp_path, tiny_batches):
    raws, _, _ = tiny_batches
    raws = dict(raws, data_batch_3=pickle.dumps(_Trap()))  # md5 no longer matches
    _write_dir(tmp_path, raws)
    mismatch = "data_batch_3.*Checksum mismatch|Checksum mismatch.*data_batch_3"
    with pytest.raises(ValueError, match=mismatch):
        fetch_cifar10(data_home=tmp_path, download=False)
    assert HITS == []


def test_matching_checksum_but_foreign_globals_refused(tmp_path, tiny_batches, monkeypatch):
    raws, _, _ = tiny_batches
    evil = pickle.dumps(_Trap())
    raws = dict(raws, test_batch=evil)
    monkeypatch.setitem(_cifar.CIFAR10_MD5, "test_batch", hashlib.md5(evil).hexdigest())
    _write_dir(tmp_path, raws)
    with pytest.raises(ValueError, match="test_batch is not a CIFAR-10 python batch"):
        fetch_cifar10(data_home=tmp_path, download=False)
    assert HITS == []


def test_official_md5s_refuse_test_batches(tmp_path, tiny_batches, monkeypatch):
    raws, _, _ = tiny_batches
    monkeypatch.setattr(_cifar, "CIFAR10_MD5", {
        "data_batch_1": "c99cafc152244af753f735de768cd75f", **{n: "x" for n in BATCHES[1:]}})
    _write_dir(tmp_path, raws)
    with pytest.raises(ValueError, match="expected md5 c99cafc152244af753f735de768cd75f"):
        fetch_cifar10(data_home=tmp_path, download=False)


def _write_npz(path, imgs, labels, n_train):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=imgs[:n_train], y_train=labels[:n_train].astype(np.uint8),
             x_test=imgs[n_train:], y_test=labels[n_train:].astype(np.uint8))


def test_npz_same_layout_as_batches(tmp_path, tiny_batches):
    raws, imgs, labels = tiny_batches
    _write_dir(tmp_path / "a", raws)
    _write_npz(tmp_path / "b" / "cifar10.npz", imgs, labels, 10)
    from_batches = fetch_cifar10(data_home=tmp_path / "a", download=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the generic npz is not lossy: no warning
        from_npz = fetch_cifar10(data_home=tmp_path / "b", download=False)
    np.testing.assert_array_equal(from_batches.data, from_npz.data)
    np.testing.assert_array_equal(from_batches.target, from_npz.target)
    assert from_batches.caveat is None and from_npz.caveat is None


def test_lossy_npz_fallback_warns(tmp_path, tiny_batches):
    _, imgs, labels = tiny_batches
    _write_npz(tmp_path / "cifar10-airplane-frog" / "cifar10_airplane_frog_jpegq75.npz",
               imgs, labels, 10)
    with pytest.warns(UserWarning, match="JPEG.*quality 75") as caught:
        b = load_dataset("cifar10", data_home=tmp_path, download=False)
    assert caught[0].filename == __file__          # the caller's line, not skpoison's
    assert b.classes == (0, 6) and "lossy" in b.description
    assert b.caveat == _cifar.JPEG_CAVEAT
    # A sweep's workers read it quietly (the sweep warned once), caveat kept.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _cifar.quiet_caveats():
            quiet = load_dataset("cifar10", data_home=tmp_path, download=False)
    assert quiet.caveat == _cifar.JPEG_CAVEAT
    with pytest.warns(UserWarning, match="JPEG"):      # (and only inside the block)
        load_dataset("cifar10", data_home=tmp_path, download=False)
    # a class the lossy copy lacks: it is skipped, and nothing else is there; the
    # message names the class it lacks (it said "lack classes [0, 1, 6]" of a copy
    # holding 0 and 6)
    with pytest.raises(FileNotFoundError, match=r"cifar-10-python.tar.gz.*lack some of "
                                                 r"classes \[0, 1, 6\]: .*jpegq75.npz holds "
                                                 r"classes \[0, 3, 6\] only \(not 1\)"):
        fetch_cifar10(classes=(0, 1, 6), data_home=tmp_path, download=False)


def test_the_jpeg_copy_keeps_its_caveat_under_another_name(tmp_path, tiny_batches):
    # (copied to <home>/cifar10.npz, a documented source, it was read as exact data:
    # no warning, no caveat in a sweep's rows, tables or titles)
    _, imgs, labels = tiny_batches
    path = tmp_path / "cifar10.npz"
    names = np.array([f"train/airplane/{i:04d}.JPG" for i in range(len(imgs))])
    np.savez(path, x_train=imgs[:10], y_train=labels[:10].astype(np.uint8),
             x_test=imgs[10:], y_test=labels[10:].astype(np.uint8),
             names_train=names[:10], names_test=names[10:])
    with pytest.warns(UserWarning, match="JPEG"):
        bunch = load_dataset("cifar10", data_home=tmp_path, download=False)
    assert bunch.caveat == _cifar.JPEG_CAVEAT and "lossy" in bunch.description


def test_a_batches_folder_cut_short_is_said(tmp_path, tiny_batches):
    raws, imgs, labels = tiny_batches
    _write_dir(tmp_path, {k: v for k, v in raws.items() if k != "test_batch"})
    _write_npz(tmp_path / "cifar10.npz", imgs, labels, 10)
    with pytest.warns(UserWarning, match="cifar-10-batches-py lacks test_batch, so it is "
                                         "not read"):
        bunch = fetch_cifar10(data_home=tmp_path, download=False)
    assert "cifar10.npz" in bunch.description


def test_bad_npz_refused(tmp_path):
    np.savez(tmp_path / "cifar10.npz", x_train=np.zeros((2, 32, 32), np.uint8),
             y_train=np.zeros(2), x_test=np.zeros((1, 32, 32, 3), np.uint8), y_test=np.zeros(1))
    with pytest.raises(ValueError, match=r"x_train must be uint8 of shape \(n, 32, 32, 3\)"):
        fetch_cifar10(data_home=tmp_path, download=False)
    np.savez(tmp_path / "cifar10.npz", x_train=np.zeros(2))
    with pytest.raises(ValueError, match="keys x_train, y_train, x_test, y_test"):
        fetch_cifar10(data_home=tmp_path, download=False)
    # labels that are not integers (were truncated: 0.7 -> 0)
    np.savez(tmp_path / "cifar10.npz", x_train=np.zeros((2, 32, 32, 3), np.uint8),
             y_train=np.array([0.7, 6.7]), x_test=np.zeros((1, 32, 32, 3), np.uint8),
             y_test=np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="y_train integer labels of shape .* float64"):
        fetch_cifar10(data_home=tmp_path, download=False)
    (tmp_path / "cifar10.npz").write_bytes(b"garbage")   # numpy: "pickled data, allow_pickle"
    with pytest.raises(ValueError, match="not an .npz archive .* replace it") as caught:
        fetch_cifar10(data_home=tmp_path, download=False)
    assert "allow_pickle" not in str(caught.value)


def test_missing_cifar_offline(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        fetch_cifar10(data_home=tmp_path, download=True)
    msg = str(info.value)
    assert "cifar-10-python.tar.gz" in msg and str(tmp_path) in msg
    assert "www.cs.toronto.edu" in msg
    assert list(tmp_path.iterdir()) == []


def test_a_batch_of_the_wrong_width_is_refused(tmp_path, monkeypatch):
    raws = {name: pickle.dumps({b"labels": [0, 6], b"data": np.zeros((2, 100), np.uint8)})
            for name in BATCHES}
    monkeypatch.setattr(_cifar, "CIFAR10_MD5",
                        {n: hashlib.md5(r).hexdigest() for n, r in raws.items()})
    _write_dir(tmp_path, raws)
    with pytest.raises(ValueError, match="bad shapes"):
        fetch_cifar10(data_home=tmp_path, download=False)


def test_npz_labels_must_be_cifar_class_ids(tmp_path):
    # (labels 0..1 for airplane and frog read as airplane and automobile, silently...
    # caught only for ids outside 0-9: an npz cannot say which ten classes it means)
    images = np.zeros((2, 32, 32, 3), np.uint8)
    np.savez(tmp_path / "cifar10.npz", x_train=images, y_train=np.array([0, 12]),
             x_test=images, y_test=np.array([0, 6]))
    with pytest.raises(ValueError, match="y_train must hold CIFAR-10 class ids 0-9"):
        fetch_cifar10(data_home=tmp_path, download=False)
