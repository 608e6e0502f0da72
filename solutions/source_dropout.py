"""Cells of the dropout assignment (see build_sources.py for the cell kinds)."""

CELLS = [
("md", r"""
# Graded exercise: dropout

You will write the dropout layer, an MLP that drops units in training and not in evaluation, and then train
it with and without dropout and weight decay on real Fashion-MNIST images: you will measure the gap between
training and test loss, follow the variance of the hidden activations during training, and compare dropout
with weight decay, alone and combined.

**How this notebook is graded.** Write your code where it says `# YOUR CODE HERE` (delete the
`raise NotImplementedError()`), and your answers where it says *YOUR ANSWER HERE*. The cells that start with
`import importlib, regcourse.grading as G` are tests: run them to check your work. The grader runs the whole
notebook from top to bottom in a fresh kernel, restores the test cells exactly as they are here, and adds
hidden tests of the same properties on other inputs, so a hard-coded answer does not pass. Plots and written
answers are graded by hand. Do not rename this file. Before you submit: *Kernel → Restart & Run All*, and
check that it finishes in about a minute.

As in PyTorch and the chapters, $p$ is the probability of **dropping** a unit.
"""),
("code", r"""
import torch
import numpy as np
import matplotlib.pyplot as plt
from types import SimpleNamespace
from torch import nn
from regcourse import evaluate, fit, load_fashion_mnist, set_seed

torch.set_num_threads(1)  # small batches: one thread is faster, and the grader runs many notebooks
fmnist = load_fashion_mnist()
g = torch.Generator().manual_seed(0)
train_idx = torch.randperm(60000, generator=g)[:2000]
test_idx = torch.randperm(10000, generator=g)[:2000]
data = SimpleNamespace(X_train=fmnist.X_train[train_idx], y_train=fmnist.y_train[train_idx],
                       X_test=fmnist.X_test[test_idx], y_test=fmnist.y_test[test_idx])
print(data.X_train.shape, data.X_test.shape)
"""),
("md", r"""
A small budget, so that the whole notebook runs in well under a minute on a laptop CPU: 2,000 training images
(chosen at random, always the same ones) and 2,000 test images of the real Fashion-MNIST, flattened to 784
values in $[0, 1]$. With so few training images a 784-256-256-10 network overfits quickly, which is what
dropout is for.

## 1. The dropout layer (3 points)

Write `dropout_layer(X, p)`: return a **new** tensor of the shape of `X` in which each element is, independently,
set to 0 with probability `p` and otherwise divided by $1-p$, so that the expectation of every element is
unchanged. `p = 1` drops everything (return zeros; do not divide by 0) and `p = 0` keeps `X` as it is.
Do not modify `X` in place.
"""),
("solution", r"""
def dropout_layer(X, p):
    assert 0 <= p <= 1, f"p must be a probability, got {p}"
    ### BEGIN SOLUTION
    if p == 1:
        return torch.zeros_like(X)
    mask = (torch.rand(X.shape) > p).float()
    return mask * X / (1.0 - p)
    ### END SOLUTION
""", "dropout_layer"),
("test", r"""
X = torch.arange(12, dtype=torch.float32).reshape(3, 4) + 1
X_copy = X.clone()
out = dropout_layer(X, 0.0)
G.assert_tensor(out, "dropout_layer(X, 0)")
G.assert_close(out, X_copy, "dropout_layer(X, 0)", hint="With p = 0 nothing is dropped and nothing is rescaled.")
G.assert_close(dropout_layer(X, 1.0), torch.zeros(3, 4), "dropout_layer(X, 1)",
               hint="With p = 1 every element is dropped: return zeros (and do not divide by 1 - p = 0).")
G.assert_shape(dropout_layer(X, 0.5), (3, 4), "dropout_layer(X, 0.5)")
G.assert_close(X, X_copy, "X after calling dropout_layer(X, ...)", hint="dropout_layer changed its input in place; return a new tensor.")
### BEGIN HIDDEN TESTS
Y = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(3))
G.assert_shape(dropout_layer(Y, 0.3), (2, 3, 5), "dropout_layer on a 3-D tensor")
G.assert_close(dropout_layer(Y, 0.0), Y, "dropout_layer(Y, 0) on a 3-D tensor")
G.assert_close(dropout_layer(Y, 1.0), torch.zeros(2, 3, 5), "dropout_layer(Y, 1) on a 3-D tensor")
### END HIDDEN TESTS
""", "test_dropout_basic", 1),
("test", r"""
def check_dropout_statistics(p, n_rows=400, n_cols=250, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n_rows, n_cols, generator=g) + 0.5           # all entries in [0.5, 1.5], none 0
    x, out = G.values(X), G.values(dropout_layer(X, p), f"dropout_layer(X, {p})")
    n = len(x)
    kept = [i for i in range(n) if out[i] != 0.0]
    for i in kept[:2000]:
        assert abs(out[i] - x[i] / (1 - p)) <= 1e-5 * abs(x[i] / (1 - p)), (
            f"With p={p}, a kept element {x[i]:.4f} became {out[i]:.4f}; it should be divided by 1 - p, "
            f"giving {x[i] / (1 - p):.4f}. Without the 1/(1-p) the expected activation shrinks.")
    frac = 1 - len(kept) / n
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(frac - p) <= 6 * sd + 1e-9, (
        f"With p={p}, {frac:.4f} of the elements were dropped; expected about {p} (each element dropped "
        "independently with probability p, p being the DROP probability).")
    mean_in, mean_out = sum(x) / n, sum(out) / n
    assert abs(mean_out - mean_in) <= 6 * (p / (1 - p)) ** 0.5 * 1.5 / n ** 0.5, (
        f"With p={p} the mean of the output is {mean_out:.4f} but the mean of the input is {mean_in:.4f}: "
        "dropout must keep the expectation of each element unchanged.")
    rows = [tuple(v == 0.0 for v in out[r * n_cols:(r + 1) * n_cols]) for r in range(3)]
    assert len(set(rows)) == 3, "Three rows got the same dropout mask: draw one mask value per element."

check_dropout_statistics(0.5)
### BEGIN HIDDEN TESTS
check_dropout_statistics(0.2, seed=1)
check_dropout_statistics(0.8, n_rows=1000, seed=2)
### END HIDDEN TESTS
""", "test_dropout_scaling", 2),
("md", r"""
Each kept element is divided by $1-p$: the dropped part is made up by the kept part, so
$\mathbb E[\text{dropout}(x)] = (1-p)\cdot\frac{x}{1-p} + p\cdot 0 = x$. The variance, on the other hand,
grows: $\operatorname{Var}[\text{dropout}(x)] = \frac{p}{1-p}x^2$.

## 2. An MLP that knows when it is training (3 points)

Write the class `MLP`: layers `self.lin1` (784 → `num_hiddens1`), `self.lin2` (→ `num_hiddens2`) and
`self.lin3` (→ `num_outputs`), ReLU after the first two, dropout with probability `p1` after the first
hidden layer and `p2` after the second, **only in training mode** (`self.training`, which `model.train()` and
`model.eval()` set). In `forward`, also store the two hidden activations **after the ReLU and before
dropout** in `self.activations = [h1, h2]`: part 4 measures them.
"""),
("solution", r"""
class MLP(nn.Module):
    def __init__(self, num_inputs=784, num_outputs=10, num_hiddens1=256, num_hiddens2=256, p1=0.2, p2=0.5):
        super().__init__()
        ### BEGIN SOLUTION
        self.p1, self.p2 = p1, p2
        self.lin1 = nn.Linear(num_inputs, num_hiddens1)
        self.lin2 = nn.Linear(num_hiddens1, num_hiddens2)
        self.lin3 = nn.Linear(num_hiddens2, num_outputs)
        ### END SOLUTION

    def forward(self, X):
        ### BEGIN SOLUTION
        h1 = torch.relu(self.lin1(X))
        h1_dropped = dropout_layer(h1, self.p1) if self.training else h1
        h2 = torch.relu(self.lin2(h1_dropped))
        h2_dropped = dropout_layer(h2, self.p2) if self.training else h2
        self.activations = [h1, h2]
        return self.lin3(h2_dropped)
        ### END SOLUTION
""", "mlp"),
("test", r"""
torch.manual_seed(0)
X = data.X_test[:64]
model = MLP(p1=0.5, p2=0.5)
with torch.no_grad():
    plain = model.lin3(torch.relu(model.lin2(torch.relu(model.lin1(X)))))
    model.eval()
    out1, out2 = model(X), model(X)
    G.assert_shape(out1, (64, 10), "the output of MLP on 64 images")
    G.assert_close(out1, plain, "the output in evaluation mode (model.eval())", rtol=1e-5, atol=1e-6,
                   hint="In evaluation mode nothing is dropped. If you call F.dropout, pass training=self.training; "
                        "nn.Dropout and `if self.training:` also work.")
    G.assert_close(out2, out1, "a second forward pass in evaluation mode", rtol=1e-6, atol=1e-7)
    model.train()
    t1, t2 = model(X), model(X)
    G.assert_not_close(t1, t2, "two forward passes in training mode with p1 = p2 = 0.5",
                       hint="In training mode, dropout should draw a new random mask at every call.")
### BEGIN HIDDEN TESTS
torch.manual_seed(1)
m0 = MLP(num_hiddens1=32, num_hiddens2=16, p1=0.0, p2=0.0)
X = data.X_train[:20]
with torch.no_grad():
    m0.train(); a = m0(X)
    m0.eval(); b = m0(X)
G.assert_shape(a, (20, 10), "the output of MLP(num_hiddens1=32, num_hiddens2=16)")
G.assert_close(a, b, "training-mode output with p1 = p2 = 0", rtol=1e-5, atol=1e-6,
               hint="With p = 0, training and evaluation mode must give the same output.")
m = MLP(num_hiddens1=32, num_hiddens2=16, p1=0.5, p2=0.0)
with torch.no_grad():
    m.eval()
    G.assert_close(m(X), m.lin3(torch.relu(m.lin2(torch.relu(m.lin1(X))))),
                   "the evaluation-mode output of MLP(p1=0.5, p2=0)", rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS
""", "test_mlp_train_eval", 2),
("test", r"""
torch.manual_seed(2)
model = MLP(p1=0.5, p2=0.5).train()
X = data.X_train[:32]
with torch.no_grad():
    model(X)
    h1 = torch.relu(model.lin1(X))
    assert isinstance(getattr(model, "activations", None), (list, tuple)) and len(model.activations) == 2, (
        "forward should set self.activations = [h1, h2], the two hidden activations.")
    G.assert_close(model.activations[0], h1, "model.activations[0] in training mode", rtol=1e-5, atol=1e-6,
                   hint="Store h1 after the ReLU and BEFORE dropout (the mask must not be applied to it).")
    G.assert_shape(model.activations[1], (32, 256), "model.activations[1]")
### BEGIN HIDDEN TESTS
    m = MLP(p1=0.0, p2=0.5).train()    # nothing dropped before layer 2: h2 is known exactly
    m(X)
    G.assert_close(m.activations[1], torch.relu(m.lin2(torch.relu(m.lin1(X)))),
                   "model.activations[1] in training mode with p1 = 0", rtol=1e-5, atol=1e-6,
                   hint="h2 is relu(lin2(h1 after dropout)), stored BEFORE its own dropout mask.")
### END HIDDEN TESTS
""", "test_mlp_activations", 1),
("md", r"""
## 3. Training with and without dropout and weight decay (3 points)

Part 4 asks *how the variance of the hidden activations changes during training*. Variance over what?
Here is the quantity, precisely: for a batch of activations $H$ of shape (batch, units), taken **after
the ReLU and before the dropout mask**, compute each unit's variance across the batch (population variance,
dividing by the batch size) and average over the units:

$$v(H) = \frac{1}{U}\sum_{u=1}^{U} \frac{1}{B}\sum_{i=1}^{B}\bigl(H_{iu} - \bar H_{u}\bigr)^2,
\qquad \bar H_u = \frac1B\sum_i H_{iu}.$$

Write `unit_variance(H)` returning $v(H)$ as a float. Then `train_model(p1, p2, lambd, seed=0)`:

* `set_seed(seed)`, then build `MLP(p1=p1, p2=p2)` (so every configuration starts from the same weights);
* train it with `fit(model, data, epochs=EPOCHS, batch_size=64, optimizer=..., progress=False,
  generator=torch.Generator().manual_seed(seed), on_batch=...)` using `torch.optim.SGD` with `lr=LR` and
  weight decay `lambd` on the weights only (not the biases);
* every `RECORD_EVERY` steps (`on_batch(model, step)` is called after each step, `step` counting from 1),
  run the model on the fixed `probe` batch **in training mode** under `torch.no_grad()` and record
  `[unit_variance(h1), unit_variance(h2)]` from `model.activations`;
* return `(model, variances)`, `variances` a tensor of shape `(number of records, 2)`.

Finally `loss_gap(model)` returns a dict with `"train_loss"` and `"test_loss"` (mean cross-entropy in
evaluation mode on `data.X_train` and `data.X_test`; `evaluate` from `regcourse` does this) and
`"gap" = test_loss - train_loss`.
"""),
("code", r"""
EPOCHS, LR, RECORD_EVERY = 15, 0.2, 40
probe = data.X_train[:512]
CONFIGS = {"plain": (0.0, 0.0, 0.0), "dropout": (0.2, 0.5, 0.0),
           "weight decay": (0.0, 0.0, 5e-3), "dropout + weight decay": (0.2, 0.5, 5e-3)}
"""),
("solution", r"""
def unit_variance(H):
    ### BEGIN SOLUTION
    return float(H.var(dim=0, unbiased=False).mean())
    ### END SOLUTION

def train_model(p1, p2, lambd, seed=0):
    ### BEGIN SOLUTION
    set_seed(seed)
    model = MLP(p1=p1, p2=p2)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": lambd},
                                 {"params": biases, "weight_decay": 0.0}], lr=LR)
    records = []

    def record(model, step):
        if step % RECORD_EVERY == 0:
            with torch.no_grad():
                model(probe)            # fit() keeps the model in training mode during the epoch
            records.append([unit_variance(h) for h in model.activations])

    fit(model, data, epochs=EPOCHS, batch_size=64, optimizer=optimizer, progress=False,
        generator=torch.Generator().manual_seed(seed), on_batch=record)
    return model, torch.tensor(records)
    ### END SOLUTION

def loss_gap(model):
    ### BEGIN SOLUTION
    train_loss = evaluate(model, data.X_train, data.y_train)["loss"]
    test_loss = evaluate(model, data.X_test, data.y_test)["loss"]
    return {"train_loss": train_loss, "test_loss": test_loss, "gap": test_loss - train_loss}
    ### END SOLUTION
""", "train_model"),
("test", r"""
H = torch.tensor([[0.0, 1.0, 10.0], [2.0, 1.0, 30.0], [4.0, 1.0, 20.0], [6.0, 1.0, 40.0]])
# per-unit variances across the 4 rows: 5, 0, 125; their mean: 130 / 3
G.assert_close(G.scalar(unit_variance(H), "unit_variance(H)"), 130 / 3, "unit_variance(H)", rtol=1e-4,
               hint="Take the variance of each column (unit) across the rows (the batch, dim=0), dividing by the "
                    "batch size (unbiased=False), then average over the columns. Not over dim=1, and not the "
                    "variance of the whole tensor.")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(5)
H = torch.rand(37, 11, generator=g) * torch.arange(1, 12) + torch.arange(11) * 3.0
Hn = np.array(G.values(H)).reshape(37, 11)
G.assert_close(G.scalar(unit_variance(H)), float(Hn.var(axis=0).mean()), "unit_variance of a 37x11 matrix",
               rtol=1e-4, hint="Per-unit variance across the batch (dim 0), averaged over units.")
### END HIDDEN TESTS
""", "test_unit_variance", 2),
("code", r"""
runs = {name: train_model(p1, p2, lambd) for name, (p1, p2, lambd) in CONFIGS.items()}
results = {name: loss_gap(model) for name, (model, _) in runs.items()}
for name, r in results.items():
    print(f"{name:24s} train loss {r['train_loss']:.3f}  test loss {r['test_loss']:.3f}  gap {r['gap']:.3f}")
"""),
("md", r"""
Four models, one per configuration, all started from the same weights and shown the same batches in the
same order: the differences between the rows come from the regularizers (and, with dropout, from the random
masks).
"""),
("test", r"""
n_records = EPOCHS * ((len(data.X_train) + 63) // 64) // RECORD_EVERY
for name, (model, variances) in runs.items():
    G.assert_tensor(variances, f"the variances of the run {name!r}")
    G.assert_shape(variances, (n_records, 2), f"the variances of the run {name!r}")
    assert min(G.values(variances)) > 0, f"The run {name!r} recorded a variance <= 0: activations cannot all be equal."
    G.assert_finite(variances, f"the variances of the run {name!r}")
### BEGIN HIDDEN TESTS
for name in ["plain", "weight decay"]:     # no dropout: the last record is the final model on the probe batch
    model, variances = runs[name]
    with torch.no_grad():
        h1 = torch.relu(model.lin1(probe)); h2 = torch.relu(model.lin2(h1))
    ref = [float(np.array(G.values(h)).reshape(len(probe), -1).var(axis=0).mean()) for h in (h1, h2)]
    G.assert_close(variances[-1], ref, f"the last recorded variances of the run {name!r}", rtol=1e-3,
                   hint="Record unit_variance of h1 and h2 on the probe batch every RECORD_EVERY steps, "
                        "the last one after the final step.")
### END HIDDEN TESTS
""", "test_variances_recorded", 1),
("test", r"""
assert set(results) == set(CONFIGS), f"results has the keys {sorted(results)}; expected {sorted(CONFIGS)}."
for name, r in results.items():
    for key in ("train_loss", "test_loss", "gap"):
        assert key in r, f"loss_gap(...) for {name!r} has no {key!r}."
    tr, te, gap = G.scalar(r["train_loss"]), G.scalar(r["test_loss"]), G.scalar(r["gap"])
    assert 0 < tr < 3 and 0 < te < 3, f"The losses of {name!r} ({tr:.3f}, {te:.3f}) are not plausible cross-entropies."
    G.assert_close(gap, te - tr, f"the gap of {name!r}", rtol=1e-6, atol=1e-9, hint="gap = test_loss - train_loss.")
### BEGIN HIDDEN TESTS
loss_fn = nn.CrossEntropyLoss()
for name, (model, _) in runs.items():
    def plain_forward(X):
        return model.lin3(torch.relu(model.lin2(torch.relu(model.lin1(X)))))
    with torch.no_grad():
        tr = float(loss_fn(plain_forward(data.X_train), data.y_train))
        te = float(loss_fn(plain_forward(data.X_test), data.y_test))
    G.assert_close(results[name]["train_loss"], tr, f"the training loss of {name!r}", rtol=1e-4,
                   hint="Evaluate in evaluation mode (dropout off) on all of data.X_train.")
    G.assert_close(results[name]["test_loss"], te, f"the test loss of {name!r}", rtol=1e-4,
                   hint="Evaluate in evaluation mode (dropout off) on all of data.X_test.")
### END HIDDEN TESTS
""", "test_loss_gap", 2),
("test", r"""
def squared_weights(model):
    return sum(G.scalar((p.detach() ** 2).sum()) for n, p in model.named_parameters() if n.endswith("weight"))

for without, with_wd in [("plain", "weight decay"), ("dropout", "dropout + weight decay")]:
    a, b = squared_weights(runs[without][0]), squared_weights(runs[with_wd][0])
    assert b < 0.95 * a, (
        f"The weights of {with_wd!r} (sum of squares {b:.1f}) should be clearly smaller than those of "
        f"{without!r} ({a:.1f}): check that train_model passes weight_decay=lambd for the weights.")
### BEGIN HIDDEN TESTS
for name, (model, _) in runs.items():
    for layer in (model.lin1, model.lin2, model.lin3):
        assert layer.bias.abs().max() > 0, f"The biases of {name!r} are all zero: are they being trained?"
### END HIDDEN TESTS
""", "test_weight_decay_effect", 1),
("task", r"""
**Plot (2 points).** In the next cell, plot the recorded activation variance $v$ against the training step,
one panel per hidden layer, one line per configuration, with axis labels (the step is
`RECORD_EVERY * (record index + 1)`), a legend and a title per panel.

=== BEGIN MARK SCHEME ===
2 points: two panels (layer 1, layer 2), four labelled lines each, x = training step, y = mean per-unit
variance, legend (1); the curves are the recorded arrays, not recomputed from the final models (1).
1 point if the plot is there but a panel, labels or the legend is missing.
=== END MARK SCHEME ===
""", "plot_variances", 2),
("free", r"""
### BEGIN SOLUTION
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=False)
for layer, ax in enumerate(axes):
    for name, (_, variances) in runs.items():
        steps = RECORD_EVERY * np.arange(1, len(variances) + 1)
        ax.plot(steps, variances[:, layer].numpy(), marker=".", label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel("mean per-unit variance v(H)")
    ax.set_title(f"hidden layer {layer + 1} (after ReLU, before the mask)")
    ax.grid(True, alpha=0.3)
axes[0].legend(fontsize="small")
plt.show()
### END SOLUTION
"""),
("task", r"""
**Question (3 points).** Using *your* numbers (quote them): (a) how do the train/test gaps of the four
configurations compare, and is one training run per configuration enough to be sure? (b) What does your
plot show about the activation variance with and without dropout, measured this way, and why does measuring
before the mask matter? (c) Are the effects of dropout and weight decay additive here?

=== BEGIN MARK SCHEME ===
1 point per part. (a) quotes the four gaps from `results`, compares them, and notes that with 2,000 images
and one seed the differences are noisy (several seeds or a larger budget would be needed to be sure).
(b) describes the plot correctly (with dropout the layer-2 input is noisier; the variance of the pre-mask
activations evolves differently, typically lower for dropout networks whose weights stay smaller), and
explains that after the mask the variance is inflated by the mask itself (Var = p/(1-p)·x² extra), so the
quantity must be defined before it. (c) compares "dropout + weight decay" with each alone, using the numbers,
without claiming more than one run shows.
=== END MARK SCHEME ===
""", "written_regularizers", 3),
("answer", r"""
*YOUR ANSWER HERE.*
"""),
]
