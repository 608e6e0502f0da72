"""GENERATED from book/weight_decay/03_concise.ipynb by python scripts/harvest_chapter_code.py: do not edit.

The notebook's code cells tagged 'chapter-code', in order (each marked '# --- cell <id> ---'). To
change this code, edit the notebook, then run python scripts/harvest_chapter_code.py.
"""
# ruff: noqa: E402, F401, I001  (imports stay in the cells that introduce them; later cells use them)


# --- cell e88a102b ---
import torch

from regcourse import minibatches
from regcourse.chapters.weight_decay_from_scratch import (
    batch_size,
    init_params,
    l2_penalty,
    linreg,
    lr,
    make_data,
    n_train,
    num_epochs,
    num_inputs,
    squared_loss,
    train,
    train_many,
    true_b,
)


# --- cell f6d00a5b ---
from torch import nn


# --- cell dd6463e7 ---
def make_trainer(net, wd, lr):
    return torch.optim.SGD([
        {"params": net.weight, "weight_decay": wd},
        {"params": net.bias},                      # no weight decay on the bias
    ], lr=lr)


# --- cell dfd6b89d ---
def train_concise(wd, seed=0, lr=lr, make_trainer=make_trainer, epochs=num_epochs, **data_args):
    (X, y), (X_test, y_test), gen = make_data(seed, **data_args)
    w, b = init_params(gen)
    net = nn.Linear(num_inputs, 1)
    with torch.no_grad():
        net.weight.copy_(w.T)
        net.bias.copy_(b)
    trainer = make_trainer(net, wd, lr)
    mse = nn.MSELoss()
    history = {"train_loss": [], "test_loss": []}
    for epoch in range(epochs):
        for X_batch, y_batch in minibatches(X, y, batch_size, generator=gen):
            l = mse(net(X_batch), y_batch) / 2        # = squared_loss: MSELoss has no 1/2
            trainer.zero_grad()
            l.backward()
            trainer.step()
        with torch.no_grad():
            history["train_loss"].append(float(mse(net(X), y) / 2))
            history["test_loss"].append(float(mse(net(X_test), y_test) / 2))
    return net, history
