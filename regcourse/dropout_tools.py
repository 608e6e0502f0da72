"""Measurement tools for the dropout chapter and its exercises.

The dropout layer itself is written in the chapter (it is the lesson); this module only *measures* networks:

* :func:`unit_variance` -- the one definition of "activation variance" the course uses;
* :class:`ActivationRecorder` -- forward hooks that keep the outputs of named modules;
* :func:`activation_variance` -- :func:`unit_variance` of named modules on a fixed probe batch;
* :class:`VarianceTracker` -- the same, every ``every`` steps, as an ``on_batch`` callback of
  :func:`regcourse.fit`;
* :func:`mc_dropout_predict` -- Monte-Carlo dropout: T stochastic forward passes, their mean and spread;
* :func:`dropout_modules` -- the dropout layers of a model.

Definition used everywhere (learners found the D2L exercise ambiguous, see the chapter): for a hidden
activation matrix ``H`` of shape ``[batch, units]``, the *activation variance* is the variance of each unit
across the examples of the batch (population variance, divisor ``batch``), averaged over the units::

    unit_variance(H) = mean_j  Var_i H[i, j]

It measures how strongly a layer's units respond differently to different inputs. It is **not**
``torch.var(H)`` over the whole tensor, which also counts differences *between* units (a unit that is always
large and one that is always zero make that number large although neither varies with the input).

Example (the module names are the ones in the chapter's concise network)::

    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    probe = data.X_test[:1000]
    tracker = VarianceTracker({"hidden 1": net[2], "hidden 2": net[5]}, probe, every=50)
    history = fit(net, data, epochs=10, lr=0.5, on_batch=tracker)
    tracker.steps, tracker.values["hidden 1"]   # lists, one entry per measurement
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Mapping

import torch
from torch import nn

__all__ = ["ActivationRecorder", "VarianceTracker", "activation_variance", "dropout_modules",
           "mc_dropout_predict", "unit_variance"]


def unit_variance(H: torch.Tensor) -> float:
    """Per-unit variance across the batch, averaged over units: ``H.var(dim=0, unbiased=False).mean()``.

    ``H`` has shape ``[batch, units]`` (more trailing dimensions are flattened into units). Returns a float.
    """
    if H.dim() < 2:
        raise ValueError(f"H must have shape [batch, units], got shape {tuple(H.shape)}.")
    if H.shape[0] < 2:
        raise ValueError("The variance across the batch needs at least two examples.")
    H = H.detach().reshape(H.shape[0], -1).double()
    return float(H.var(dim=0, unbiased=False).mean())


class ActivationRecorder:
    """Context manager: while active, keeps the latest output of each named module in ``self.outputs``.

    ``modules`` maps a label to a module of the model (for example the ``nn.ReLU`` after a hidden layer, to
    measure *before* the dropout mask, or the ``nn.Dropout`` itself, to measure *after* it). The hooks are
    removed on exit, even after an exception. Outputs are detached (no graph is kept)::

        with ActivationRecorder({"hidden 1": net[2]}) as rec:
            net(X)
        rec.outputs["hidden 1"]      # tensor [batch, 256]
    """

    def __init__(self, modules: Mapping[str, nn.Module]):
        if not modules:
            raise ValueError("Give at least one module to record, as {label: module}.")
        for label, module in modules.items():
            if not isinstance(module, nn.Module):
                raise TypeError(f"{label!r} maps to {type(module).__name__}, not an nn.Module. "
                                "Forward hooks need modules: use nn.ReLU()/nn.Dropout() layers, or record "
                                "inside forward() yourself.")
        self.modules = dict(modules)
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles = []

    def _hook(self, label):
        def hook(module, inputs, output):
            self.outputs[label] = output.detach()
        return hook

    def __enter__(self):
        self.outputs = {}
        self._handles = [m.register_forward_hook(self._hook(label)) for label, m in self.modules.items()]
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return False


@contextmanager
def _mode(model: nn.Module, training: bool):
    """Put ``model`` in train or eval mode for the block, then restore every submodule's own flag."""
    saved = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for m, flag in saved:
            m.training = flag


def activation_variance(model: nn.Module, modules: Mapping[str, nn.Module], X: torch.Tensor, *,
                        mode: str = "eval") -> dict[str, float]:
    """:func:`unit_variance` of the output of each named module, for one forward pass of ``X``.

    ``mode="eval"`` measures the network as it is used at test time (dropout off, deterministic);
    ``mode="train"`` measures it as the next layer sees it during training (dropout masks on, so the result
    is random: seed torch beforehand to repeat it). The model's modes are restored afterwards and no
    gradients are recorded.
    """
    if mode not in ("eval", "train"):
        raise ValueError(f"mode must be 'eval' or 'train', got {mode!r}.")
    with _mode(model, mode == "train"), torch.no_grad(), ActivationRecorder(modules) as rec:
        model(X)
    missing = [label for label in modules if label not in rec.outputs]
    if missing:
        raise RuntimeError(f"Modules {missing} were not called in the forward pass: are they part of the "
                           "model's forward()? (A module built but not used never fires its hook.)")
    return {label: unit_variance(rec.outputs[label]) for label in modules}


class VarianceTracker:
    """An ``on_batch(model, step)`` callback for :func:`regcourse.fit` that records
    :func:`activation_variance` on a fixed probe batch every ``every`` optimisation steps.

    After training, ``self.steps`` lists the steps measured and ``self.values[label]`` the variances, one
    per step. Call ``tracker.record(model, 0)`` before :func:`regcourse.fit` to include the untrained
    network as step 0. Each measurement costs one forward
    pass of the probe batch, small next to ``every`` training steps.
    """

    def __init__(self, modules: Mapping[str, nn.Module], X_probe: torch.Tensor, *, every: int = 50,
                 mode: str = "eval"):
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}.")
        self.modules = dict(modules)
        self.X_probe = X_probe
        self.every = every
        self.mode = mode
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {label: [] for label in self.modules}

    def record(self, model: nn.Module, step: int) -> None:
        """Measure now and append the result under ``step``."""
        for label, value in activation_variance(model, self.modules, self.X_probe, mode=self.mode).items():
            self.values[label].append(value)
        self.steps.append(step)

    def __call__(self, model: nn.Module, step: int) -> None:
        # fit() calls on_batch(model, step) after each optimisation step, counting from 1.
        if step % self.every == 0:
            self.record(model, step)


def dropout_modules(model: nn.Module) -> list[nn.Module]:
    """All dropout layers (``nn.Dropout``, ``nn.Dropout1d/2d/3d``, ``nn.AlphaDropout`` ...) of ``model``."""
    return [m for m in model.modules() if isinstance(m, (nn.modules.dropout._DropoutNd,))]


def mc_dropout_predict(model: nn.Module, X: torch.Tensor, T: int = 100, *, enable: str = "dropout",
                       generator_seed: int | None = None) -> dict[str, torch.Tensor]:
    """Monte-Carlo dropout (Gal & Ghahramani, 2016): ``T`` forward passes with dropout *on*.

    Returns a dict of tensors:

    * ``"samples"`` -- softmax probabilities of every pass, shape ``[T, batch, classes]``;
    * ``"mean"`` -- their mean over passes, the predictive distribution, ``[batch, classes]``;
    * ``"std"`` -- their standard deviation over passes (population, divisor T), ``[batch, classes]``;
    * ``"entropy"`` -- entropy (nats) of the predictive mean, ``[batch]``;
    * ``"votes"`` -- fraction of passes whose argmax is each class, ``[batch, classes]``.

    ``enable="dropout"`` switches on only the ``nn.Dropout`` layers and keeps every other layer in
    evaluation mode (batch norm must keep its running statistics); it raises ``ValueError`` if the model
    has no such layer, for example a from-scratch model that calls its own dropout function when
    ``self.training`` is true: then use ``enable="all"``, which puts the whole model in training mode.
    ``generator_seed`` seeds torch's global generator first, to repeat a result. All modes are restored and
    no gradients are recorded.
    """
    if T < 1:
        raise ValueError(f"T must be at least 1, got {T}.")
    if enable not in ("dropout", "all"):
        raise ValueError(f"enable must be 'dropout' or 'all', got {enable!r}.")
    if generator_seed is not None:
        torch.manual_seed(generator_seed)
    with _mode(model, enable == "all"), torch.no_grad():
        if enable == "dropout":
            layers = dropout_modules(model)
            if not layers:
                raise ValueError("The model has no nn.Dropout layer to switch on. If its forward() applies "
                                 "dropout when self.training is true, call with enable='all'.")
            for layer in layers:
                layer.train()
        samples = torch.stack([torch.softmax(model(X), dim=-1) for _ in range(T)])
    mean = samples.mean(dim=0)
    entropy = -(mean * torch.log(mean.clamp_min(1e-12))).sum(dim=-1)
    votes = torch.nn.functional.one_hot(samples.argmax(dim=-1), samples.shape[-1]).float().mean(dim=0)
    return {"samples": samples, "mean": mean, "std": samples.std(dim=0, unbiased=False),
            "entropy": entropy, "votes": votes}
