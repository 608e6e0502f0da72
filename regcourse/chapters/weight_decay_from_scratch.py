"""GENERATED from book/weight_decay/02_from_scratch.ipynb by python scripts/harvest_chapter_code.py: do not edit.

The notebook's code cells tagged 'chapter-code', in order (each marked '# --- cell <id> ---'). To
change this code, edit the notebook, then run python scripts/harvest_chapter_code.py.
"""
# ruff: noqa: E402, F401, I001  (imports stay in the cells that introduce them; later cells use them)


# --- cell 19e8334b ---
import torch

from regcourse import make_generator, minibatches, synthetic_linear_data


# --- cell c0f083f0 ---
n_train, n_test, num_inputs, batch_size = 20, 100, 200, 5
num_epochs, lr = 100, 0.003
true_w, true_b = torch.full((num_inputs, 1), 0.01), 0.05

def make_data(seed, noise=0.01, b=true_b):
    """Training and test sets for one seed, and the generator that goes on to draw w and shuffle."""
    gen = make_generator(seed)
    train_data = synthetic_linear_data(true_w, b, n_train, noise, generator=gen)
    test_data = synthetic_linear_data(true_w, b, n_test, noise, generator=gen)
    return train_data, test_data, gen


# --- cell 563a78d6 ---
def init_params(gen):
    w = torch.normal(0, 1, size=(num_inputs, 1), generator=gen, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    return w, b


# --- cell 18ab6d6c ---
def l2_penalty(w):
    return (w ** 2).sum() / 2


# --- cell 1a682d16 ---
def linreg(X, w, b):
    return X @ w + b

def squared_loss(y_hat, y):
    """Half the squared error, averaged over the batch."""
    return ((y_hat - y) ** 2 / 2).mean()

def sgd(params, lr):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad
            param.grad.zero_()


# --- cell 1c3918f7 ---
def train(lambd, seed=0, lr=lr, loss=squared_loss, **data_args):
    (X, y), (X_test, y_test), gen = make_data(seed, **data_args)
    w, b = init_params(gen)
    history = {"train_loss": [], "test_loss": []}
    for epoch in range(num_epochs):
        for X_batch, y_batch in minibatches(X, y, batch_size, generator=gen):
            l = loss(linreg(X_batch, w, b), y_batch) + lambd * l2_penalty(w)
            l.backward()
            sgd([w, b], lr)
        with torch.no_grad():  # report the data loss (no penalty) on the whole sets
            history["train_loss"].append(float(squared_loss(linreg(X, w, b), y)))
            history["test_loss"].append(float(squared_loss(linreg(X_test, w, b), y_test)))
    return w.detach(), b.detach(), history


# --- cell 84ce429a ---
def train_many(lambds, seeds, lr=lr, **data_args):
    """train(lambd, seed) for many pairs at once; returns final w (runs, d, 1), b, train and test loss."""
    runs = [make_data(seed, **data_args) for seed in seeds]
    gens = [gen for _, _, gen in runs]
    X, y = torch.stack([tr[0] for tr, _, _ in runs]), torch.stack([tr[1] for tr, _, _ in runs])
    X_test, y_test = torch.stack([te[0] for _, te, _ in runs]), torch.stack([te[1] for _, te, _ in runs])
    w = torch.stack([init_params(gen)[0].detach() for gen in gens]).requires_grad_()
    b = torch.zeros(len(seeds), 1, 1, requires_grad=True)
    lambd = torch.as_tensor(lambds, dtype=torch.float32)     # (runs,): multiplies each run's l2_penalty
    run = torch.arange(len(seeds))[:, None]
    for epoch in range(num_epochs):
        order = torch.stack([torch.randperm(n_train, generator=gen) for gen in gens])
        for idx in order.split(batch_size, dim=1):              # idx: (runs, batch_size)
            y_hat = X[run, idx] @ w + b
            l = ((y_hat - y[run, idx]) ** 2 / 2).mean(dim=(1, 2)) + lambd * (w ** 2).sum(dim=(1, 2)) / 2
            l.sum().backward()                               # one loss per run: sum, not mean
            sgd([w, b], lr)
    with torch.no_grad():
        train_loss = ((X @ w + b - y) ** 2 / 2).mean(dim=(1, 2))
        test_loss = ((X_test @ w + b - y_test) ** 2 / 2).mean(dim=(1, 2))
    return w.detach(), b.detach(), train_loss, test_loss
