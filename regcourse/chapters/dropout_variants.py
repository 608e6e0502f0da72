"""GENERATED from book/dropout/06_variants.ipynb by python scripts/harvest_chapter_code.py: do not edit.

The notebook's code cells tagged 'chapter-code', in order (each marked '# --- cell <id> ---'). To
change this code, edit the notebook, then run python scripts/harvest_chapter_code.py.
"""
# ruff: noqa: E402, F401, I001  (imports stay in the cells that introduce them; later cells use them)


# --- cell ad59af43 ---
import math

import torch
from torch import nn


# --- cell d97401ae ---
def dropout_forward(X, p, generator=None):
    if not 0 <= p < 1:
        raise ValueError(f"p is the drop probability and must be in [0, 1), got {p}")
    mask = (torch.rand(X.shape, generator=generator, dtype=X.dtype) >= p).to(X.dtype)
    out = X * mask / (1 - p)
    cache = (mask, p)
    return out, cache


def dropout_backward(dout, cache):
    mask, p = cache
    return dout * mask / (1 - p)


# --- cell 1071e82c ---
from regcourse.chapters.dropout_from_scratch import dropout_layer  # inverted dropout, as in the from-scratch section


def gaussian_noise_layer(X, p):
    # Multiply by 1 + sqrt(p / (1 - p)) * N(0, 1): mean 1 and variance p / (1 - p), like the dropout factor.
    return X * (1 + math.sqrt(p / (1 - p)) * torch.randn_like(X))


def dropconnect_weight(W, p):
    # Drop each weight with probability p, scale the survivors by 1 / (1 - p).
    return (torch.rand_like(W) >= p).float() * W / (1 - p)


class Net(nn.Module):
    def __init__(self, p1=0.0, p2=0.0, noise="dropout"):
        super().__init__()
        if noise not in ("dropout", "gaussian", "dropconnect"):
            raise ValueError(f"noise must be 'dropout', 'gaussian' or 'dropconnect', got {noise!r}")
        self.p1, self.p2, self.noise = p1, p2, noise
        self.lin1, self.lin2, self.lin3 = nn.Linear(784, 256), nn.Linear(256, 256), nn.Linear(256, 10)

    def perturb(self, H, p):
        if not self.training or p == 0 or self.noise == "dropconnect":
            return H
        return dropout_layer(H, p) if self.noise == "dropout" else gaussian_noise_layer(H, p)

    def linear(self, layer, H, p):
        if self.training and p > 0 and self.noise == "dropconnect":
            return nn.functional.linear(H, dropconnect_weight(layer.weight, p), layer.bias)
        return layer(H)

    def forward(self, X):
        H1 = self.perturb(torch.relu(self.lin1(X)), self.p1)
        H2 = self.perturb(torch.relu(self.linear(self.lin2, H1, self.p1)), self.p2)
        return self.linear(self.lin3, H2, self.p2)
