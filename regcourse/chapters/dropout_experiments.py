"""GENERATED from book/dropout/04_experiments.ipynb by python scripts/harvest_chapter_code.py: do not edit.

The notebook's code cells tagged 'chapter-code', in order (each marked '# --- cell <id> ---'). To
change this code, edit the notebook, then run python scripts/harvest_chapter_code.py.
"""
# ruff: noqa: E402, F401, I001  (imports stay in the cells that introduce them; later cells use them)


# --- cell c5e1a2d0 ---
import torch
import torch.nn.functional as F
from torch import nn

from regcourse.chapters.dropout_from_scratch import concise_net  # the network of the previous section


# --- cell cc5c4ab5 ---
def unit_variance(H):
    # Variance of each unit (column) across the examples (rows), divisor n, then the mean over the units.
    return float(H.detach().double().var(dim=0, unbiased=False).mean())


class VarianceTracker:
    """Every `every` steps: unit_variance of the output of each module in `modules` ({label: module}),
    for one forward pass of `probe` in `mode` ("eval": dropout off; "train": dropout masks on)."""

    def __init__(self, modules, probe, every, mode):
        self.modules, self.probe, self.every, self.mode = modules, probe, every, mode
        self.steps, self.values = [], {label: [] for label in modules}

    def record(self, net, step):
        outputs = {}
        hooks = [module.register_forward_hook(
                     lambda module, inputs, output, label=label: outputs.__setitem__(label, output))
                 for label, module in self.modules.items()]
        was_training = net.training
        net.train(self.mode == "train")
        try:
            with torch.no_grad():
                net(self.probe)
        finally:                                    # leave the network as we found it, even after an error
            for hook in hooks:
                hook.remove()
            net.train(was_training)
        for label in self.modules:
            self.values[label].append(unit_variance(outputs[label]))
        self.steps.append(step)

    def __call__(self, net, step):                  # fit() calls on_batch(net, step), step = 1, 2, ...
        if step % self.every == 0:
            self.record(net, step)


# --- cell d8cc6308 ---
def mc_dropout_predict(net, X, T=100):
    net.eval()
    for module in net.modules():
        if isinstance(module, nn.Dropout):
            module.train()                       # only the dropout layers draw masks
    with torch.no_grad():
        samples = torch.stack([torch.softmax(net(X), dim=1) for _ in range(T)])   # [T, batch, classes]
    net.eval()                                   # leave the network in evaluation mode
    mean = samples.mean(dim=0)                   # the predictive distribution
    return {"samples": samples, "mean": mean,
            "std": samples.std(dim=0, unbiased=False),                             # spread over passes
            "entropy": -(mean * mean.clamp_min(1e-12).log()).sum(dim=1),          # in nats
            "votes": F.one_hot(samples.argmax(dim=2), samples.shape[2]).float().mean(dim=0)}
