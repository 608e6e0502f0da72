"""The training and evaluation loop the chapters share, on tensors held in memory: fit, evaluate, History."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .data import minibatches


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
