"""regcourse.data: the Fashion-MNIST resolver (every source in order, and the 'no data anywhere' message), D2L's
synthetic linear data and minibatches."""
import gzip
import struct

import pytest
import torch

from regcourse import data as D
from regcourse import minibatches, synthetic_linear_data


def _write_idx(folder, gz, n_train=20, n_test=10):
    """Tiny well-formed IDX files: the resolver's path logic does not depend on the image content."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = {"train-images-idx3-ubyte": (2051, [n_train, 28, 28]), "train-labels-idx1-ubyte": (2049, [n_train]),
             "t10k-images-idx3-ubyte": (2051, [n_test, 28, 28]), "t10k-labels-idx1-ubyte": (2049, [n_test])}
    for name, (magic, dims) in specs.items():
        size = 1
        for d in dims:
            size *= d
        payload = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
        payload += bytes(i % 10 for i in range(size))
        path = folder / (name + (".gz" if gz else ""))
        (gzip.open if gz else open)(path, "wb").write(payload)


def test_env_var_folder_with_gz_is_decompressed_into_torchvision_layout(tmp_path):
    _write_idx(tmp_path / "src", gz=True)
    root = D.resolve_fashion_mnist_root(tmp_path / "cache", env={D.ENV_VAR: str(tmp_path / "src")},
                                        debian_dir=tmp_path / "nowhere", allow_download=False)
    raw = root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(D.RAW_FILES)
    # decompressed: an IDX file starts with its magic number, not gzip's 1f 8b
    assert (raw / "train-labels-idx1-ubyte").read_bytes()[:4] == struct.pack(">I", 2049)


def test_env_var_accepts_a_torchvision_root(tmp_path):
    _write_idx(tmp_path / "tv" / "FashionMNIST" / "raw", gz=False)
    root = D.resolve_fashion_mnist_root(tmp_path / "cache", env={D.ENV_VAR: str(tmp_path / "tv")},
                                        debian_dir=tmp_path / "nowhere", allow_download=False)
    assert (root / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()


def test_env_var_wins_over_debian(tmp_path):
    _write_idx(tmp_path / "src", gz=False, n_train=30)
    _write_idx(tmp_path / "debian", gz=True, n_train=20)
    root = D.resolve_fashion_mnist_root(tmp_path / "cache", env={D.ENV_VAR: str(tmp_path / "src")},
                                        debian_dir=tmp_path / "debian", allow_download=False)
    header = (root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte").read_bytes()[4:8]
    assert struct.unpack(">I", header)[0] == 30


def test_env_var_pointing_at_a_wrong_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    _write_idx(tmp_path / "debian", gz=True)
    with pytest.raises(D.DataNotFoundError, match=D.ENV_VAR):
        D.resolve_fashion_mnist_root(tmp_path / "cache", env={D.ENV_VAR: str(tmp_path / "empty")},
                                     debian_dir=tmp_path / "debian", allow_download=False)


def test_debian_folder_is_used_when_no_env_var(tmp_path):
    _write_idx(tmp_path / "debian", gz=True)
    root = D.resolve_fashion_mnist_root(tmp_path / "cache", env={}, debian_dir=tmp_path / "debian",
                                        allow_download=False)
    assert D._find_files(root / "FashionMNIST" / "raw")


def test_no_data_anywhere_names_the_three_options(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("no internet")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(D.DataNotFoundError) as err:
        D.resolve_fashion_mnist_root(tmp_path / "cache", env={}, debian_dir=tmp_path / "nowhere")
    message = str(err.value)
    assert D.ENV_VAR in message and "apt-get install dataset-fashion-mnist" in message
    assert "internet" in message and "no internet" in message  # and why the download failed


def test_check_counts_rejects_a_truncated_set():
    y_train = torch.arange(10).repeat(6000)
    y_test = torch.arange(10).repeat(1000)
    D.check_counts(y_train, y_test)  # the real shape passes
    with pytest.raises(ValueError, match="59999"):
        D.check_counts(y_train[:-1], y_test)
    with pytest.raises(ValueError, match="per class"):
        D.check_counts(torch.zeros(60000, dtype=torch.long), y_test)


def test_real_fashion_mnist_loads_with_the_published_counts():
    data = D.load_fashion_mnist()
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert data.X_train.dtype == torch.float32
    assert 0.0 <= float(data.X_train.min()) and float(data.X_train.max()) <= 1.0
    assert torch.bincount(data.y_train).tolist() == [6000] * 10
    assert torch.bincount(data.y_test).tolist() == [1000] * 10
    # real images, not noise: the mean pixel of Fashion-MNIST's training set is about 0.286
    assert abs(float(data.X_train.mean()) - 0.286) < 0.01


def test_minibatches_cover_every_row_once_per_epoch():
    X = torch.arange(23.0).reshape(-1, 1)
    y = torch.arange(23)
    batches = list(minibatches(X, y, 5, generator=torch.Generator().manual_seed(0)))
    assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(23))
    assert seen.tolist() != list(range(23))  # shuffled
    for Xb, yb in batches:  # rows stay paired with their labels
        assert torch.equal(Xb[:, 0].long(), yb)


def test_minibatches_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        list(minibatches(torch.zeros(3, 1), torch.zeros(4), 2))


def test_synthetic_linear_data_follows_the_model():
    g = torch.Generator().manual_seed(0)
    w = torch.full((200,), 0.01)
    X, y = synthetic_linear_data(w, 0.05, 5000, generator=g)
    residual = y - (X @ w.reshape(-1, 1) + 0.05)
    assert X.shape == (5000, 200) and y.shape == (5000, 1)
    assert abs(float(residual.std()) - 0.01) < 0.001
