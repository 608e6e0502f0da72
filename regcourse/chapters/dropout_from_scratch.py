"""GENERATED from book/dropout/03_from_scratch.ipynb by python scripts/harvest_chapter_code.py: do not edit.

The notebook's code cells tagged 'chapter-code', in order (each marked '# --- cell <id> ---'). To
change this code, edit the notebook, then run python scripts/harvest_chapter_code.py.
"""
# ruff: noqa: E402, F401, I001  (imports stay in the cells that introduce them; later cells use them)


# --- cell 6ad7e699 ---
import torch
from torch import nn


# --- cell 37026e78 ---
def dropout_layer(X, p):
    # Inverted dropout: zero each element with probability p, scale the survivors by 1 / (1 - p).
    assert 0 <= p <= 1, f"p is a probability, got {p}"
    if p == 1:                                   # everything is dropped (and 1 / (1 - p) is undefined)
        return torch.zeros_like(X)
    keep = (torch.rand_like(X) >= p).float()     # 1 with probability 1 - p, else 0
    return keep * X / (1 - p)                    # a new tensor: X itself is not modified


# --- cell fb5ab628 ---
num_inputs, num_outputs, num_hiddens1, num_hiddens2 = 784, 10, 256, 256
dropout1, dropout2 = 0.2, 0.5


class Net(nn.Module):
    def __init__(self, num_inputs, num_outputs, num_hiddens1, num_hiddens2, dropout1, dropout2):
        super().__init__()
        self.num_inputs = num_inputs
        self.dropout1, self.dropout2 = dropout1, dropout2
        self.lin1 = nn.Linear(num_inputs, num_hiddens1)
        self.lin2 = nn.Linear(num_hiddens1, num_hiddens2)
        self.lin3 = nn.Linear(num_hiddens2, num_outputs)

    def forward(self, X):
        H1 = torch.relu(self.lin1(X.reshape(-1, self.num_inputs)))
        if self.training:                        # nn.Module's own flag, set by .train() / .eval()
            H1 = dropout_layer(H1, self.dropout1)
        H2 = torch.relu(self.lin2(H1))
        if self.training:
            H2 = dropout_layer(H2, self.dropout2)
        return self.lin3(H2)


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.01)
        nn.init.zeros_(m.bias)


# --- cell e35e225a ---
def concise_net(dropout1=dropout1, dropout2=dropout2):
    net = nn.Sequential(nn.Flatten(),
                        nn.Linear(784, 256), nn.ReLU(), nn.Dropout(dropout1),
                        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(dropout2),
                        nn.Linear(256, 10))
    net.apply(init_weights)
    return net
