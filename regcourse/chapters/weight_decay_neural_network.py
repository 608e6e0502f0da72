"""GENERATED from book/weight_decay/04_neural_network.ipynb by python scripts/harvest_chapter_code.py: do not edit.

The notebook's code cells tagged 'chapter-code', in order (each marked '# --- cell <id> ---'). To
change this code, edit the notebook, then run python scripts/harvest_chapter_code.py.
"""
# ruff: noqa: E402, F401, I001  (imports stay in the cells that introduce them; later cells use them)


# --- cell f8ff25a3 ---
import torch
from torch import nn


# --- cell 87a0f227 ---
def mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(),
                         nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def weight_matrices(net):
    return [m.weight for m in net if isinstance(m, nn.Linear)]


def frobenius_penalty(net):
    # (1/2) * sum over layers of ||W||_F^2; the biases are left out
    return sum((W ** 2).sum() for W in weight_matrices(net)) / 2


def make_trainer(net, lambd, lr):
    # The optimizer adds lambd * W to each weight's gradient: the gradient of lambd * frobenius_penalty.
    biases = [m.bias for m in net if isinstance(m, nn.Linear)]
    return torch.optim.SGD([{"params": weight_matrices(net), "weight_decay": lambd},
                            {"params": biases}], lr=lr)
