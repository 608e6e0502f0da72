"""The course's data: real Fashion-MNIST (found offline when possible), D2L's synthetic linear-regression data,
and minibatches drawn from tensors held in memory.

Sources, tried in this order:

1. the directory named by the environment variable ``FASHION_MNIST_DIR``: either a folder holding the four
   IDX files (``train-images-idx3-ubyte`` etc., gzipped or not) or a torchvision root that has
   ``FashionMNIST/raw/``;
2. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
3. torchvision's own download, where there is internet.

Debian re-gzipped its files, so torchvision's MD5 check rejects the ``.gz``. We therefore decompress whatever
we find into torchvision's ``<root>/FashionMNIST/raw/`` layout; torchvision then loads the raw files and never
tries to download.
"""
from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TEXT_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")


class DataNotFoundError(RuntimeError):
    """No source of Fashion-MNIST worked; the message says how to provide one."""


def default_cache_dir() -> Path:
    """Where the decompressed files go: ``$REGCOURSE_DATA`` or ``~/.cache/regcourse``."""
    return Path(os.environ.get("REGCOURSE_DATA", Path.home() / ".cache" / "regcourse"))


def _find_files(folder: Path) -> dict[str, Path] | None:
    """Map each raw file name to an existing file (raw or .gz) in ``folder``; None if any is missing."""
    found = {}
    for name in RAW_FILES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found


def _install_raw(files: dict[str, Path], root: Path) -> None:
    """Copy (decompressing .gz) the four files into ``root/FashionMNIST/raw``."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        dst = raw / name
        if dst.is_file() and dst.stat().st_size > 0:
            continue
        tmp = dst.with_suffix(".part")
        opener = gzip.open if src.suffix == ".gz" else open
        with opener(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        tmp.replace(dst)  # atomic: a half-written file never looks complete


def _missing_message(tried: list[str]) -> str:
    return ("Fashion-MNIST was not found. Tried:\n  - " + "\n  - ".join(tried) + "\n"
            "Provide it in one of three ways:\n"
            f"  1. set {ENV_VAR} to a folder holding train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz),\n"
            "     t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz);\n"
            "  2. on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist;\n"
            "  3. connect to the internet so torchvision can download it.")


def resolve_fashion_mnist_root(cache_dir: Path | str | None = None, *, env: dict | None = None,
                               debian_dir: Path | str = DEBIAN_DIR, allow_download: bool = True) -> Path:
    """Return a torchvision root whose ``FashionMNIST/raw`` holds the four decompressed files.

    Raises :class:`DataNotFoundError` naming the three ways to provide the data if no source works.
    """
    env = os.environ if env is None else env
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    tried = []

    if env.get(ENV_VAR):
        folder = Path(env[ENV_VAR]).expanduser()
        for candidate in (folder, folder / "FashionMNIST" / "raw"):
            files = _find_files(candidate)
            if files:
                _install_raw(files, cache)
                return cache
        # The user asked for this folder explicitly: say so rather than quietly using another source.
        raise DataNotFoundError(f"{ENV_VAR}={folder} does not hold the four Fashion-MNIST IDX files.\n"
                                + _missing_message([f"{ENV_VAR}={folder}"]))
    tried.append(f"{ENV_VAR} (not set)")

    if _find_files(cache / "FashionMNIST" / "raw"):
        return cache

    files = _find_files(Path(debian_dir))
    if files:
        _install_raw(files, cache)
        return cache
    tried.append(f"{debian_dir} (Debian package dataset-fashion-mnist not installed)")

    if allow_download:
        try:
            import torchvision
            torchvision.datasets.FashionMNIST(cache, train=True, download=True)
            torchvision.datasets.FashionMNIST(cache, train=False, download=True)
            return cache
        except Exception as err:  # no internet, proxy, mirror down, ...
            tried.append(f"torchvision download into {cache} ({type(err).__name__}: {err})")
    else:
        tried.append("torchvision download (disabled)")
    raise DataNotFoundError(_missing_message(tried))


@dataclass(frozen=True)
class FashionMNIST:
    """The whole data set as tensors: images float32 in [0, 1] flattened to 784, labels int64."""
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def train(self):
        return self.X_train, self.y_train

    @property
    def test(self):
        return self.X_test, self.y_test


def check_counts(y_train: torch.Tensor, y_test: torch.Tensor) -> None:
    """Fail loudly on a truncated or wrong file: 60000/10000 images, 6000/1000 per class."""
    for name, y, n in (("training", y_train, 60000), ("test", y_test, 10000)):
        if len(y) != n:
            raise ValueError(f"Fashion-MNIST {name} set has {len(y)} images, expected {n}: "
                             "the files are incomplete; delete the cache folder and run again.")
        counts = torch.bincount(y, minlength=10)
        if len(counts) != 10 or not bool((counts == n // 10).all()):
            raise ValueError(f"Fashion-MNIST {name} labels per class are {counts.tolist()}, "
                             f"expected {n // 10} each: the label file is not Fashion-MNIST.")


_CACHE: dict[str, FashionMNIST] = {}


def load_fashion_mnist(root: Path | str | None = None) -> FashionMNIST:
    """Load all of Fashion-MNIST once into memory (about 200 MB as float32).

    Training from these tensors, batched by indexing a random permutation, is several times faster on a
    CPU than a DataLoader that converts one PIL image at a time.
    """
    import torchvision
    root = Path(root) if root is not None else resolve_fashion_mnist_root()
    key = str(root.resolve())
    if key not in _CACHE:
        train = torchvision.datasets.FashionMNIST(root, train=True, download=False)
        test = torchvision.datasets.FashionMNIST(root, train=False, download=False)
        check_counts(train.targets, test.targets)
        _CACHE[key] = FashionMNIST(
            X_train=train.data.reshape(-1, 784).float().div_(255),
            y_train=train.targets.long(),
            X_test=test.data.reshape(-1, 784).float().div_(255),
            y_test=test.targets.long())
    return _CACHE[key]


# ---------------------------------------------------------------------------------------------------------
# Synthetic data and minibatches

def synthetic_linear_data(w: torch.Tensor, b: float, n: int, noise: float = 0.01,
                          generator: torch.Generator | None = None):
    """D2L's linear data: X ~ N(0, 1), y = Xw + b + eps with eps ~ N(0, noise^2). Returns (X, y[n, 1])."""
    X = torch.randn(n, len(w), generator=generator)
    y = X @ w.reshape(-1, 1) + b
    y += noise * torch.randn(y.shape, generator=generator)
    return X, y


def minibatches(X: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = True,
                generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (X[idx], y[idx]) batches; with shuffle, idx walks a fresh random permutation each call.

    Indexing one in-memory tensor costs a single gather per batch, instead of one Python call per image.
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}: they must be the same length.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    n = len(X)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]
