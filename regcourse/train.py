"""The training and evaluation loop the chapters share, on tensors held in memory."""
from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn

SEED_OFFSET_VARIABLE = "REGCOURSE_SEED_OFFSET"


def seed_offset() -> int:
    """The integer in the environment variable REGCOURSE_SEED_OFFSET (0 when unset).

    Every seed the course uses goes through :func:`set_seed` or :func:`make_generator`, which add this
    offset: re-running a chapter with offsets 1, 2, 3 checks that what it says does not hang on one seed
    (scripts/check_claims.sh does exactly that).
    """
    raw = os.environ.get(SEED_OFFSET_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{SEED_OFFSET_VARIABLE}={raw!r} is not a whole number; set it to an integer such "
                         f"as 1, or unset it for the book's own seeds.") from None


def make_generator(seed: int) -> torch.Generator:
    """A torch.Generator seeded with ``seed`` plus the seed offset; touches no global random state."""
    return torch.Generator().manual_seed(seed + seed_offset())


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy (if present) and torch with ``seed`` plus the seed offset (see
    :func:`seed_offset`); return a torch.Generator seeded the same way."""
    seed = seed + seed_offset()
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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


def _accuracy_sum(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == y).sum())


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: Callable | None = None,
             batch_size: int = 4096) -> dict:
    """Mean loss (and accuracy, for class labels) of ``model`` on (X, y) in evaluation mode.

    Uses both ``model.eval()`` (dropout off) and ``torch.no_grad()`` (no graph): they do different jobs.
    The model's previous mode is restored afterwards.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0.0
    classify = y.dtype in (torch.int64, torch.int32)
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            Xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            out = model(Xb)
            total_loss += float(loss_fn(out, yb)) * len(Xb)  # loss_fn returns a batch mean
            if classify:
                correct += _accuracy_sum(out, yb)
    model.train(was_training)
    result = {"loss": total_loss / len(X)}
    if classify:
        result["acc"] = correct / len(X)
    return result


@dataclass
class History:
    """Per-epoch metrics. ``train_loss``/``train_acc`` are running means over the epoch's batches, as the
    model saw them in training mode (with dropout on); ``test_*`` are computed in evaluation mode."""
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def epochs(self) -> list:
        return list(range(1, len(self.train_loss) + 1))

    def final(self) -> dict:
        return {k: getattr(self, k)[-1] for k in ("train_loss", "train_acc", "test_loss", "test_acc")
                if getattr(self, k)}


def _progress(iterable, total, desc, enabled):
    """A text progress bar on stderr. The book build hides stderr (nb_output_stderr: remove), so it shows
    in Jupyter and the terminal but not in the built HTML."""
    if not enabled or os.environ.get("REGCOURSE_NO_PROGRESS"):
        return iterable
    from tqdm.std import tqdm
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False, mininterval=1.0)


def fit(model: nn.Module, data, *, epochs: int, lr: float | None = None, batch_size: int = 256,
        optimizer: torch.optim.Optimizer | None = None, loss_fn: Callable | None = None,
        generator: torch.Generator | None = None, progress: bool = True,
        on_batch: Callable | None = None, on_epoch: Callable | None = None) -> History:
    """Train ``model`` with minibatch SGD on ``data`` (a FashionMNIST or any object with X_train, y_train,
    X_test, y_test) and return a :class:`History`.

    ``loss_fn`` should return the batch *mean* (``reduction='mean'``, PyTorch's default): then ``lr`` is the
    step for the average gradient and does not depend on the batch size. ``fit`` rejects a loss that is not
    a scalar and a loss module built with ``reduction='sum'``; it cannot tell a hand-written ``.sum()`` from
    a mean (both are scalars), which makes every step ``batch_size`` times larger.
    ``optimizer`` defaults to ``torch.optim.SGD(model.parameters(), lr)``. ``on_batch(model, step)`` and
    ``on_epoch(model, epoch, history)`` are hooks for measurements and live plots.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    if getattr(loss_fn, "reduction", "mean") == "sum":
        raise ValueError("loss_fn sums the losses of a batch (reduction='sum'); fit() needs the batch mean, "
                         "or every step is batch_size times larger. Use reduction='mean' (the default).")
    if optimizer is None:
        if lr is None:
            raise ValueError("fit() needs either lr= or optimizer=.")
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    history = History()
    X, y = data.X_train, data.y_train
    step = 0
    for epoch in _progress(range(epochs), epochs, "epochs", progress):
        model.train()
        loss_sum, correct, n = 0.0, 0.0, 0
        for Xb, yb in minibatches(X, y, batch_size, generator=generator):
            out = model(Xb)
            loss = loss_fn(out, yb)
            if loss.dim() != 0:
                raise ValueError("loss_fn returned a tensor of shape "
                                 f"{tuple(loss.shape)}; fit() needs a scalar batch mean. Use "
                                 "reduction='mean' (the default) or call .mean() on the loss.")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += float(loss) * len(Xb)
                if yb.dtype == torch.int64:
                    correct += _accuracy_sum(out, yb)
                n += len(Xb)
            step += 1
            if on_batch is not None:
                on_batch(model, step)
        if not torch.isfinite(torch.tensor(loss_sum)):
            raise FloatingPointError(
                f"The training loss became {loss_sum / n} in epoch {epoch + 1}: the steps are too large for "
                "this model. Usual causes: a learning rate too large, a loss summed over the batch instead "
                "of averaged (every step batch_size times larger), or gradients not zeroed between steps.")
        history.train_loss.append(loss_sum / n)
        if y.dtype == torch.int64:
            history.train_acc.append(correct / n)
        test = evaluate(model, data.X_test, data.y_test, loss_fn)
        history.test_loss.append(test["loss"])
        if "acc" in test:
            history.test_acc.append(test["acc"])
        if on_epoch is not None:
            on_epoch(model, epoch + 1, history)
    return history
