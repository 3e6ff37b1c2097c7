import gzip
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from skpoison.datasets import _home, _mnist, fetch_fashion_mnist, fetch_mnist, read_idx
from skpoison.datasets._idx import parse_idx


# --------------------------------------------------------------- read_idx ---
def test_read_idx_roundtrip_gz_and_plain(tmp_path, idx_bytes):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    (tmp_path / "a").write_bytes(idx_bytes(arr))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), arr)


def test_parse_idx_big_endian_int32():
    data = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + np.array([1, -2], ">i4").tobytes()
    out = parse_idx(data)
    assert out.dtype == np.dtype("i4") and out.dtype.isnative
    np.testing.assert_array_equal(out, [1, -2])


@pytest.mark.parametrize("data, match", [
    (b"\x00\x00", "truncated IDX file"),
    (b"\x00\x00\x08", "truncated IDX file"),
    (bytes([1, 0, 8, 1, 0, 0, 0, 1, 5]), "bad magic"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]), "bad magic"),
    (bytes([0, 0, 8, 0]), "bad magic"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 1]), "truncated IDX header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 3, 5, 6]), "truncated IDX file: the header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 5, 6]), "too long"),
    # sizes whose product overflows int64 (it wrapped to 0 and passed the check)
    (bytes([0, 0, 8, 4]) + (2**16).to_bytes(4, "big") * 4, r"truncated IDX file: .* "
                                                            r"\(18446744073709551636 bytes"),
])
def test_parse_idx_refuses_malformed(data, match):
    with pytest.raises(ValueError, match=match):
        parse_idx(data, name="somefile")


def test_read_idx_truncated_payload_names_file(tmp_path, idx_bytes):
    raw = idx_bytes(np.zeros((4, 28, 28)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*truncated"):
        read_idx(path)


@pytest.mark.parametrize("mangle", [lambda b: b[: len(b) // 2],  # truncated gzip
                                    lambda b: b"garbage" + b[7:],  # bad gzip header
                                    lambda b: b[:20] + bytes(len(b) - 20)])  # corrupted
def test_read_idx_corrupted_gzip_names_file(tmp_path, idx_bytes, mangle):
    good = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8)))
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(mangle(good))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        read_idx(path)


def test_read_idx_corrupted_deflate_stream_names_the_file(tmp_path, idx_bytes):
    import zlib

    raw = bytearray(gzip.compress(idx_bytes(np.tile(np.arange(256, dtype=np.uint8), 100))))
    raw[12] ^= 0xFF                     # inside the compressed data: a zlib error
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="x-idx1-ubyte.gz.*not a valid gzip file") as info:
        read_idx(path)
    assert isinstance(info.value.__cause__, zlib.error)


def test_read_idx_md5_mismatch(tmp_path, idx_bytes, md5):
    raw = idx_bytes(np.arange(5, dtype=np.uint8))
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(raw))
    assert read_idx(path, md5=md5(raw)).shape == (5,)
    with pytest.raises(ValueError, match=f"x.gz.*expected md5 {'0' * 32}, got {md5(raw)}"):
        read_idx(path, md5="0" * 32)


# ------------------------------------------------------ fetch_mnist (tiny) ---
@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch, write_tiny_idx_set):
    md5s, arrays = write_tiny_idx_set(tmp_path / "mnist")
    monkeypatch.setattr(_mnist, "MNIST_MD5", md5s)
    return tmp_path, arrays


def test_fetch_mnist_tiny_pool(tiny_mnist):
    home, arrays = tiny_mnist
    b = fetch_mnist(classes=(0, 8), data_home=home, download=False)
    # train 3 zeros + 4 eights, test 1 zero + 1 eight
    assert b.data.shape == (9, 784) and b.data.dtype == np.float64
    assert np.bincount(b.target).tolist()[0] == 4 and (b.target == 8).sum() == 5
    assert b.target.dtype == np.int64 and set(b.target.tolist()) == {0, 8}
    assert b.feature_range == (0.0, 1.0) and 0 <= b.data.min() and b.data.max() <= 1
    assert b.name == "mnist" and b.classes == (0, 8) and "0 vs 8" in b.description
    # the first rows are the original train zeros, scaled by 1/255
    imgs = arrays["train-images-idx3-ubyte"]
    np.testing.assert_allclose(b.data[0], imgs[0].ravel() / 255.0)


def test_fetch_mnist_env_data_home_and_uncompressed(tiny_mnist, monkeypatch):
    home, _ = tiny_mnist
    f = home / "mnist" / "t10k-labels-idx1-ubyte.gz"
    (home / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(f.read_bytes()))
    f.unlink()
    monkeypatch.setenv("SKPOISON_DATA", str(home))
    b = fetch_mnist(classes=(0, 1, 8), download=False)
    assert len(b.target) == 13 and b.classes == (0, 1, 8)


def test_fetch_mnist_checksum_mismatch(tiny_mnist, monkeypatch):
    home, _ = tiny_mnist
    monkeypatch.setitem(_mnist.MNIST_MD5, "train-labels-idx1-ubyte", "f" * 32)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz.*expected md5 f{32}"):
        fetch_mnist(data_home=home, download=False)


def test_fetch_mnist_real_md5s_refuse_tiny_files(tiny_mnist, monkeypatch):
    home, _ = tiny_mnist
    monkeypatch.setattr(_mnist, "MNIST_MD5", dict(_mnist.FASHION_MNIST_MD5))
    with pytest.raises(ValueError, match="Checksum mismatch"):
        fetch_mnist(data_home=home, download=False)


def test_fetch_mnist_inconsistent_counts(tmp_path, monkeypatch, write_tiny_idx_set,
                                         idx_bytes, md5):
    md5s, _ = write_tiny_idx_set(tmp_path / "mnist")
    raw = idx_bytes(np.zeros(3, dtype=np.uint8))  # 3 labels for 9 images
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw))
    monkeypatch.setattr(_mnist, "MNIST_MD5", dict(md5s, **{"train-labels-idx1-ubyte": md5(raw)}))
    with pytest.raises(ValueError, match="inconsistent train files"):
        fetch_mnist(data_home=tmp_path, download=False)


@pytest.mark.parametrize("classes, match", [
    ((0, 10), r"Unknown class id 10.*valid class ids are \(0, 1, 2"),
    ((0,), "at least two"), ((0, 0), "distinct"), (3, "sequence"),
    ((0, 1.5), "integers"), ((0, 5), r"absent from the mnist data"),
])
def test_fetch_mnist_bad_classes(tiny_mnist, classes, match):
    home, _ = tiny_mnist
    with pytest.raises(ValueError, match=match):
        fetch_mnist(classes=classes, data_home=home, download=False)


# --------------------------------------------------- missing files, download ---
def test_missing_files_no_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        fetch_mnist(data_home=tmp_path, download=False)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "mnist") in msg


def test_missing_files_offline_download_fails_clearly(tmp_path, write_tiny_idx_set):
    write_tiny_idx_set(tmp_path / "fashion-mnist")
    (tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(OSError) as info:  # FileNotFoundError is an OSError
        fetch_fashion_mnist(data_home=tmp_path, download=True)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "t10k-images-idx3-ubyte.gz" in msg and "train-images" not in msg.split(".")[0]
    assert str(tmp_path / "fashion-mnist") in msg and "fashion-mnist.s3" in msg
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    assert sorted(p.name for p in (tmp_path / "fashion-mnist").iterdir()) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"])  # no partial file left behind


def test_download_verifies_and_renames_atomically(tmp_path, monkeypatch, write_tiny_idx_set):
    md5s, _ = write_tiny_idx_set(tmp_path / "source")
    monkeypatch.setattr(_mnist, "MNIST_MD5", md5s)
    urls = []

    def fake(url, dest):
        urls.append(url)
        shutil.copyfile(tmp_path / "source" / url.rsplit("/", 1)[-1], dest)

    monkeypatch.setattr(_home, "_urlretrieve", fake)
    b = fetch_mnist(data_home=tmp_path / "home", download=True)
    assert len(b.target) == 9 and len(urls) == 4
    assert all(u.startswith("https://ossci-datasets.s3.amazonaws.com/mnist/") for u in urls)
    assert sorted(p.name for p in (tmp_path / "home" / "mnist").iterdir()) == sorted(
        f"{n}.gz" for n in md5s)


def test_download_with_bad_checksum_keeps_nothing(tmp_path, monkeypatch, write_tiny_idx_set):
    md5s, _ = write_tiny_idx_set(tmp_path / "source")
    monkeypatch.setattr(_mnist, "MNIST_MD5", dict.fromkeys(md5s, "0" * 32))
    monkeypatch.setattr(_home, "_urlretrieve", lambda url, dest: shutil.copyfile(
        tmp_path / "source" / url.rsplit("/", 1)[-1], dest))
    with pytest.raises(ValueError, match="refused, and nothing was kept: the md5 of its "
                                         "uncompressed bytes is .*, not the official "
                                         "0{32}") as caught:
        fetch_mnist(data_home=tmp_path / "home", download=True)
    assert "delete it" not in str(caught.value)   # (there is nothing to delete)
    assert not (tmp_path / "home").exists()  # the folders made for it are gone too


def test_a_download_failing_midway_lists_only_the_files_still_missing(
        tmp_path, monkeypatch, write_tiny_idx_set):
    # (the files downloaded before the failure are kept, and were listed as missing)
    md5s, _ = write_tiny_idx_set(tmp_path / "source")
    monkeypatch.setattr(_mnist, "MNIST_MD5", md5s)

    def second_fails(url, dest, calls=[]):
        calls.append(url)
        if len(calls) == 2:
            raise ConnectionResetError("connection reset")
        shutil.copyfile(tmp_path / "source" / url.rsplit("/", 1)[-1], dest)

    monkeypatch.setattr(_home, "_urlretrieve", second_fails)
    with pytest.raises(FileNotFoundError) as info:
        fetch_mnist(data_home=tmp_path / "home", download=True)
    listed = str(info.value).split(".gz. ")[0]
    assert "train-images" not in listed            # downloaded, kept
    assert "train-labels" in listed and "t10k-labels" in listed
    assert sorted(p.name for p in (tmp_path / "home" / "mnist").iterdir()) == [
        "train-images-idx3-ubyte.gz"]


def test_a_refused_download_does_not_name_its_deleted_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setattr(_home, "_urlretrieve",
                        lambda url, dest: Path(dest).write_bytes(b"not gzip at all"))
    with pytest.raises(ValueError, match="refused, and nothing was kept: the downloaded "
                                         "file is not a valid gzip file") as info:
        fetch_mnist(data_home=tmp_path, download=True)
    assert ".part" not in str(info.value)


def test_a_gz_file_a_browser_already_decompressed_is_read(tmp_path, idx_bytes):
    raw = idx_bytes(np.arange(200, dtype=np.uint8))
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(raw)                   # IDX bytes under a .gz name
    np.testing.assert_array_equal(read_idx(path), np.arange(200, dtype=np.uint8))


def test_a_data_home_that_is_a_file_is_named_as_the_cause(tmp_path):
    home = tmp_path / "a-file"
    home.write_text("")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        fetch_mnist(data_home=home, download=False)


def test_an_empty_data_home_is_refused(tiny_mnist, monkeypatch):
    # Path("") is the working folder: --data-home "$UNSET" read (and downloaded) there.
    home, _ = tiny_mnist
    monkeypatch.chdir(home)
    with pytest.raises(ValueError, match="data_home is an empty path"):
        fetch_mnist(data_home="", download=False)
    monkeypatch.setenv("SKPOISON_DATA", "")     # (an empty variable is unset: the default)
    assert _home.get_data_home() == Path("~/skpoison_data").expanduser()


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken(url, dest):
        with open(dest, "wb") as fh:
            fh.write(b"\x1f\x8b partial")
        raise ConnectionResetError("connection reset")

    monkeypatch.setattr(_home, "_urlretrieve", broken)
    with pytest.raises(FileNotFoundError, match="connection reset"):
        fetch_mnist(data_home=tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []  # no partial file, no empty mnist/ folder


def test_a_gzip_file_without_its_suffix_is_read(tmp_path):
    # (it failed as "not an IDX file (bad magic number 0x1f8b0808 ...)")
    import gzip

    from skpoison.datasets import read_idx
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])))
    assert read_idx(path).tolist() == [7, 9]
