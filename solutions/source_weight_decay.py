"""Cells of the weight-decay assignment (see build_sources.py for the cell kinds)."""

HELPERS = r'''
def grads_of_a_loss(seed, d=5):
    # w, b with .grad set by one backward pass of a squared loss on random data.
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(8, d, generator=g), torch.randn(8, 1, generator=g)
    w = torch.randn(d, 1, generator=g).requires_grad_()
    b = torch.randn(1, generator=g).requires_grad_()
    (((X @ w + b - y) ** 2).mean() / 2).backward()
    return w, b

def torch_reference_step(w, b, lr, lambd):
    # PyTorch's SGD with weight decay on the weights only, applied to copies of w and b.
    w2, b2 = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    w2.grad, b2.grad = w.grad.clone(), b.grad.clone()
    opt = torch.optim.SGD([{"params": [w2], "weight_decay": lambd},
                           {"params": [b2], "weight_decay": 0.0}], lr=lr)
    opt.step()
    return w2.detach(), b2.detach()
'''

REF = r'''
def reference_ridge(X, y, lambd, epochs=300, lr=0.05):
    # The same gradient descent in NumPy float64: the grader's reference.
    X, y = np.array(G.values(X)).reshape(len(X), -1), np.array(G.values(y)).reshape(-1, 1)
    w, b = np.array(G.values(W0)).reshape(-1, 1), 0.0
    for _ in range(epochs):
        r = X @ w + b - y
        w, b = w - lr * (X.T @ r / len(X) + lambd * w), b - lr * r.mean()
    return w, b

def reference_loss(w, b, X, y):
    X, y = np.array(G.values(X)).reshape(len(X), -1), np.array(G.values(y)).reshape(-1, 1)
    return float(((X @ w + b - y) ** 2).mean() / 2)
'''


CELLS = [
("md", r"""
# Graded exercise: weight decay

You will write the L2 penalty, a stochastic-gradient step with weight decay (and check it against PyTorch's
`weight_decay`), the L1 update, a sweep over the decay strength $\lambda$, and a choice of $\lambda$ made
the honest way: on a validation split, never on the test set.

**How this notebook is graded.** Write your code where it says `# YOUR CODE HERE` (delete the
`raise NotImplementedError()`), and your answers where it says *YOUR ANSWER HERE*. The cells that start with
`import importlib, regcourse.grading as G` are tests: run them to check your work. The grader runs the whole
notebook from top to bottom in a fresh kernel, restores the test cells exactly as they are here, and adds
hidden tests of the same properties on other inputs, so a hard-coded answer does not pass. Plots and written
answers are graded by hand. Do not rename this file. Before you submit: *Kernel → Restart & Run All*, and
check that it finishes in about a minute.

Notation (as in the chapters): the squared loss of one example is $\tfrac12(\hat y - y)^2$, the training
loss is its mean over the data, and the penalised objective is
$L(\mathbf w, b) + \tfrac{\lambda}{2}\lVert \mathbf w\rVert^2$, so the penalty's gradient is $\lambda\mathbf w$.
"""),
("code", r"""
import torch
import numpy as np
import matplotlib.pyplot as plt
from torch import nn
from regcourse import set_seed, synthetic_linear_data

torch.set_num_threads(1)  # small tensors: one thread is faster, and the grader runs many notebooks
"""),
("md", r"""
## The data

High-dimensional linear regression with few examples, as in the chapter: $d = 200$ inputs, 60 training
examples and 500 test examples, $y = \mathbf w^\top\mathbf x + b + \epsilon$ with every true weight $0.01$,
$b = 0.05$ and noise $\epsilon \sim \mathcal N(0, 0.01^2)$. With more parameters than examples, a model can
fit the training data exactly and still be far from the truth. `W0` is the starting point of every training
run (a random Gaussian vector, fixed here so that every run, yours and the grader's, starts from the same
place).
"""),
("code", r"""
d, n_train, n_test = 200, 60, 500
w_true, b_true = torch.full((d,), 0.01), 0.05
gen = torch.Generator().manual_seed(0)
X_train, y_train = synthetic_linear_data(w_true, b_true, n_train, noise=0.01, generator=gen)
X_test, y_test = synthetic_linear_data(w_true, b_true, n_test, noise=0.01, generator=gen)
W0 = torch.randn(d, 1, generator=torch.Generator().manual_seed(1))
print(X_train.shape, y_train.shape, X_test.shape, W0.shape)
"""),
("md", r"""
The targets have shape `(n, 1)`, like the model's output `X @ w + b` with `w` of shape `(d, 1)`.

## 1. The L2 penalty (1 point)

Write `l2_penalty(w)`, returning $\tfrac12\lVert\mathbf w\rVert^2 = \tfrac12\sum_i w_i^2$ as a 0-dimensional
tensor, for a tensor `w` of any shape. It must stay differentiable: autograd should give the gradient
$\mathbf w$.
"""),
("solution", r"""
def l2_penalty(w):
    ### BEGIN SOLUTION
    return (w ** 2).sum() / 2
    ### END SOLUTION
""", "l2_penalty"),
("test", r"""
w = torch.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
out = l2_penalty(w)
G.assert_tensor(out, "l2_penalty(w)")
G.assert_shape(out, (), "l2_penalty(w)")
G.assert_close(out, (1 + 4 + 9 + 0.25) / 2, "l2_penalty(w)",
               hint="It should be half the sum of the squared entries (not the norm, and not without the 1/2).")
out.backward()
G.assert_close(w.grad, [[1.0, -2.0], [3.0, 0.5]], "the gradient of l2_penalty(w)",
               hint="The gradient of (1/2)||w||^2 is w itself; build the result from w with torch operations.")
### BEGIN HIDDEN TESTS
for shape in [(7,), (3, 4), (2, 3, 5)]:
    v = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
    G.assert_close(l2_penalty(v), 0.5 * sum(x * x for x in G.values(v)), f"l2_penalty of a tensor of shape {shape}",
                   rtol=1e-5, atol=1e-6)
    G.assert_close(l2_penalty(3 * v), 9 * G.scalar(l2_penalty(v)), "l2_penalty(3 w)",
                   rtol=1e-5, hint="The penalty is quadratic: scaling w by 3 multiplies it by 9.")
### END HIDDEN TESTS
""", "test_l2_penalty", 1),
("md", r"""
Half the squared norm, so that its gradient is $\mathbf w$ and not $2\mathbf w$: with this convention the
decay step below reads $\mathbf w \leftarrow \mathbf w - \eta(\nabla L + \lambda\mathbf w)$.

## 2. One SGD step with weight decay (3 points)

Write `sgd_step(w, b, lr, lambd)`: given tensors `w` and `b` whose `.grad` holds the gradient of the data
loss, update them **in place** (inside `torch.no_grad()`) with learning rate `lr`, decaying the weights but
**not the bias**:

$$\mathbf w \leftarrow \mathbf w - \eta\,(\nabla_{\mathbf w} L + \lambda \mathbf w), \qquad
b \leftarrow b - \eta\,\nabla_b L .$$

The tests compare your step with `torch.optim.SGD` given two parameter groups, one with
`weight_decay=lambd` for the weights and one with `weight_decay=0` for the bias.
"""),
("solution", r"""
def sgd_step(w, b, lr, lambd):
    ### BEGIN SOLUTION
    with torch.no_grad():
        w -= lr * (w.grad + lambd * w)
        b -= lr * b.grad
    ### END SOLUTION
""", "sgd_step"),
("test", HELPERS + r"""
w, b = grads_of_a_loss(0)
w_ref, _ = torch_reference_step(w, b, lr=0.1, lambd=0.5)
sgd_step(w, b, lr=0.1, lambd=0.5)
G.assert_close(w, w_ref, "w after sgd_step(w, b, lr=0.1, lambd=0.5)", rtol=1e-5, atol=1e-7,
               hint="Expected w - lr * (w.grad + lambd * w), as torch.optim.SGD(weight_decay=lambd) does; "
                    "update w in place inside torch.no_grad().")
### BEGIN HIDDEN TESTS
for seed, lr, lambd in [(1, 0.03, 3.0), (2, 0.5, 0.0), (3, 0.2, 0.01)]:
    w, b = grads_of_a_loss(seed, d=3 + seed)
    w_ref, _ = torch_reference_step(w, b, lr, lambd)
    sgd_step(w, b, lr, lambd)
    G.assert_close(w, w_ref, f"w after sgd_step with lr={lr}, lambd={lambd}", rtol=1e-5, atol=1e-7,
                   hint="Expected w - lr * (w.grad + lambd * w).")
### END HIDDEN TESTS
""", "test_sgd_step_weights", 2),
("test", HELPERS + r"""
w, b = grads_of_a_loss(4)
_, b_ref = torch_reference_step(w, b, lr=0.1, lambd=0.5)
b_decayed = b.detach() - 0.1 * (b.grad + 0.5 * b.detach())
sgd_step(w, b, lr=0.1, lambd=0.5)
G.assert_not_close(b, b_decayed, "b after sgd_step",
                   hint="Your step decayed the bias. Weight decay shrinks the weights only: b <- b - lr * b.grad.")
G.assert_close(b, b_ref, "b after sgd_step(w, b, lr=0.1, lambd=0.5)", rtol=1e-5, atol=1e-7,
               hint="The bias takes a plain gradient step: b - lr * b.grad.")
### BEGIN HIDDEN TESTS
w, b = grads_of_a_loss(5, d=2)
_, b_ref = torch_reference_step(w, b, lr=0.3, lambd=2.0)
sgd_step(w, b, lr=0.3, lambd=2.0)
G.assert_close(b, b_ref, "b after sgd_step(w, b, lr=0.3, lambd=2.0)", rtol=1e-5, atol=1e-7,
               hint="The bias is not decayed: b - lr * b.grad.")
### END HIDDEN TESTS
""", "test_sgd_step_bias", 1),
("md", r"""
`torch.optim.SGD(model.parameters(), lr, weight_decay=lambd)` decays **every** parameter it is given,
biases included. To decay the weights only, give the optimizer two *parameter groups*. Write
`make_optimizer(model, lr, lambd)` for any `nn.Module`: weight decay `lambd` on parameters whose name ends in
`weight`, none on the others (the biases).
"""),
("solution", r"""
def make_optimizer(model, lr, lambd):
    ### BEGIN SOLUTION
    decay = [p for name, p in model.named_parameters() if name.endswith("weight")]
    no_decay = [p for name, p in model.named_parameters() if not name.endswith("weight")]
    return torch.optim.SGD([{"params": decay, "weight_decay": lambd},
                            {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    ### END SOLUTION
""", "make_optimizer"),
("test", r"""
def one_step(make, seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    before = [p.detach().clone() for p in net.parameters()]
    opt = make(net)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)     # no data gradient: only weight decay moves parameters
    opt.step()
    return [(name, old, p.detach()) for (name, p), old in zip(net.named_parameters(), before)]

for name, old, new in one_step(lambda net: make_optimizer(net, lr=0.1, lambd=0.5), seed=0):
    if name.endswith("bias"):
        G.assert_close(new, old, f"{name} after one step with zero gradient", rtol=0, atol=1e-7,
                       hint="Biases must not be decayed: put them in a group with weight_decay=0.")
    else:
        G.assert_close(new, old * (1 - 0.1 * 0.5), f"{name} after one step with zero gradient", rtol=1e-6,
                       hint="Weights shrink by the factor (1 - lr * lambd) when the data gradient is zero.")
### BEGIN HIDDEN TESTS
for name, old, new in one_step(lambda net: make_optimizer(net, lr=0.02, lambd=3.0), seed=1):
    factor = 1.0 if name.endswith("bias") else 1 - 0.02 * 3.0
    G.assert_close(new, old * factor, f"{name} after one step (lr=0.02, lambd=3)", rtol=1e-6, atol=1e-7,
                   hint="Weights decay by (1 - lr * lambd), biases not at all.")
### END HIDDEN TESTS
""", "test_make_optimizer", 1),
("md", r"""
With a zero data gradient the only force left is the decay: every weight is multiplied by $1-\eta\lambda$ per
step, while the biases stay where they are. Decaying the bias too would pull the model's output towards 0
for no benefit: the bias does not make the function more wiggly.

## 3. The L1 update (1 point)

The L1 penalty $\lambda\lVert\mathbf w\rVert_1$ has the (sub)gradient $\lambda\,\mathrm{sign}(\mathbf w)$
(take $\mathrm{sign}(0) = 0$). Write `l1_step(w, lr, lambd)`, updating `w` in place:
$\mathbf w \leftarrow \mathbf w - \eta\,(\nabla_{\mathbf w} L + \lambda\,\mathrm{sign}(\mathbf w))$.
"""),
("solution", r"""
def l1_step(w, lr, lambd):
    ### BEGIN SOLUTION
    with torch.no_grad():
        w -= lr * (w.grad + lambd * torch.sign(w))
    ### END SOLUTION
""", "l1_step"),
("test", r"""
w = torch.tensor([2.0, -0.5, 0.0, 0.01], requires_grad=True)
w.grad = torch.zeros(4)
l1_step(w, lr=0.1, lambd=0.2)
G.assert_close(w, [2.0 - 0.02, -0.5 + 0.02, 0.0, 0.01 - 0.02], "w after l1_step with zero gradient",
               rtol=1e-6, atol=1e-7,
               hint="L1 moves every nonzero weight towards 0 by the same amount lr * lambd (sign(0) = 0), "
                    "unlike L2, which shrinks in proportion to w.")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(7)
w = torch.randn(6, 2, generator=g).requires_grad_()
X, y = torch.randn(10, 6, generator=g), torch.randn(10, 2, generator=g)
w_ref = w.detach().clone().requires_grad_()
(((X @ w - y) ** 2).mean() / 2).backward()
(((X @ w_ref - y) ** 2).mean() / 2 + 0.3 * w_ref.abs().sum()).backward()
expected = w_ref.detach() - 0.05 * w_ref.grad
l1_step(w, lr=0.05, lambd=0.3)
G.assert_close(w, expected, "w after l1_step(w, lr=0.05, lambd=0.3)", rtol=1e-5, atol=1e-6,
               hint="Expected w - lr * (w.grad + lambd * sign(w)).")
### END HIDDEN TESTS
""", "test_l1_step", 1),
("md", r"""
## 4. A sweep over $\lambda$ (4 points + plot)

Write `train_ridge(X, y, lambd, epochs=300, lr=0.05)`: full-batch gradient descent on
$\operatorname{mean}\tfrac12(\mathbf X\mathbf w + b - \mathbf y)^2 + \tfrac{\lambda}{2}\lVert\mathbf w\rVert^2$,
starting from `w = W0.clone()` and `b = 0`, bias not decayed, `epochs` steps on the whole of `X`. Return
`(w, b)` as tensors (shapes `(d, 1)` and `(1,)`). Any correct way is fine: by hand, with autograd and your
`sgd_step`, or with an optimizer. Then `squared_loss(w, b, X, y)` returns the mean of
$\tfrac12(\hat y - y)^2$ as a Python float (the data loss, **without** the penalty).

Then `lambda_sweep(lambdas)` trains one model per $\lambda$ on the training set and returns two lists, the
final training losses and the final test losses, in the order of `lambdas`.
"""),
("solution", r"""
def squared_loss(w, b, X, y):
    ### BEGIN SOLUTION
    return float(((X @ w + b - y) ** 2).mean() / 2)
    ### END SOLUTION

def train_ridge(X, y, lambd, epochs=300, lr=0.05):
    ### BEGIN SOLUTION
    w, b = W0.clone(), torch.zeros(1)
    for _ in range(epochs):
        r = X @ w + b - y                      # residuals, shape (n, 1)
        grad_w = X.T @ r / len(X) + lambd * w  # data gradient + penalty gradient
        grad_b = r.mean(0)                     # the bias is not decayed
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b
    ### END SOLUTION

def lambda_sweep(lambdas):
    ### BEGIN SOLUTION
    train_losses, test_losses = [], []
    for lambd in lambdas:
        w, b = train_ridge(X_train, y_train, lambd)
        train_losses.append(squared_loss(w, b, X_train, y_train))
        test_losses.append(squared_loss(w, b, X_test, y_test))
    return train_losses, test_losses
    ### END SOLUTION
""", "train_ridge"),
("code", r"""
LAMBDAS = [0, 0.001, 0.01, 0.1, 0.3, 1, 3, 10]
train_losses, test_losses = lambda_sweep(LAMBDAS)
for lambd, tr, te in zip(LAMBDAS, train_losses, test_losses):
    print(f"lambda={lambd:<6} train loss {tr:.3g}   test loss {te:.3g}")
"""),
("md", r"""
Each row is one model trained from the same start `W0` with a different $\lambda$. The tests compare your
numbers with a reference written independently in NumPy float64 (your float32 code agrees with it to about
five digits).
"""),
("test", r"""
w, b = train_ridge(X_train, y_train, 1.0)
G.assert_tensor(w, "w returned by train_ridge")
G.assert_shape(w, (d, 1), "w returned by train_ridge")
G.assert_shape(b, (1,), "b returned by train_ridge")
G.assert_finite(w, "w returned by train_ridge")
loss = G.scalar(squared_loss(w, b, X_train, y_train), "squared_loss(w, b, X_train, y_train)")
start = G.scalar(squared_loss(W0, torch.zeros(1), X_train, y_train), "squared_loss at the start W0")
assert loss < start / 100, (f"After 300 steps the training loss is {loss:.3g}, barely below its start {start:.3g}: "
                            "train_ridge is not descending the gradient (check the sign and the update).")
### BEGIN HIDDEN TESTS
""" + REF + r"""
w_ref, b_ref = reference_ridge(X_train, y_train, 1.0)
G.assert_close(w, w_ref, "w from train_ridge(X_train, y_train, 1.0)", rtol=1e-3, atol=1e-4,
               hint="Start from W0.clone() and b = 0, take `epochs` full-batch steps of size lr on the mean "
                    "squared loss (with the 1/2) plus (lambd/2)||w||^2; do not decay b.")
for lambd, X, y in [(0.1, X_train[:30], y_train[:30]), (3.0, X_test[:50], y_test[:50])]:
    w, b = train_ridge(X, y, lambd)
    w_ref, b_ref = reference_ridge(X, y, lambd)
    G.assert_close(w, w_ref, f"w from train_ridge with lambd={lambd} on other data", rtol=1e-3, atol=1e-4)
    G.assert_close(b, [b_ref], f"b from train_ridge with lambd={lambd} on other data", rtol=1e-3, atol=1e-4,
                   hint="The bias takes plain gradient steps, b <- b - lr * mean(residual).")
    G.assert_close(squared_loss(w, b, X, y), reference_loss(w_ref, b_ref, X, y), "squared_loss",
                   rtol=1e-3, atol=1e-7, hint="The mean of (1/2)(X w + b - y)^2, as a float, without the penalty.")
### END HIDDEN TESTS
""", "test_train_ridge", 2),
("test", r"""
tr, te = G.values(train_losses, "train_losses"), G.values(test_losses, "test_losses")
assert len(tr) == len(LAMBDAS) and len(te) == len(LAMBDAS), (
    f"lambda_sweep returned {len(tr)} training and {len(te)} test losses for {len(LAMBDAS)} values of lambda: "
    "return one of each per lambda, in order.")
for i in range(1, len(tr)):
    assert tr[i] >= tr[i - 1] * (1 - 1e-3) - 1e-9, (
        f"The training loss went down from {tr[i-1]:.3g} to {tr[i]:.3g} when lambda grew from {LAMBDAS[i-1]} to "
        f"{LAMBDAS[i]}: a stronger penalty can only fit the training data less well. Check that each run uses "
        "its own lambda and reports the loss without the penalty.")
best = min(range(len(te)), key=lambda i: te[i])
assert te[0] > 10 * te[best], ("Without weight decay the test loss should be far above its best value "
                               "(the null-space part of W0 never decays); check the lambda=0 run.")
### BEGIN HIDDEN TESTS
""" + REF + r"""
for i in [0, 3, 5, 7]:
    w_ref, b_ref = reference_ridge(X_train, y_train, LAMBDAS[i])
    G.assert_close(te[i], reference_loss(w_ref, b_ref, X_test, y_test), f"the test loss for lambda={LAMBDAS[i]}",
                   rtol=2e-3, atol=1e-6, hint="Train on (X_train, y_train) with that lambda and evaluate on the test set.")
    G.assert_close(tr[i], reference_loss(w_ref, b_ref, X_train, y_train), f"the training loss for lambda={LAMBDAS[i]}",
                   rtol=2e-2, atol=1e-6)
### END HIDDEN TESTS
""", "test_lambda_sweep", 2),
("task", r"""
**Plot (2 points).** In the next cell, plot the final training and test loss against $\lambda$: two labelled
lines with markers, $\lambda$ on the x-axis (the losses span many decades, so use logarithmic y; use a
`symlog` x-axis, or plot $\lambda = 0$ separately, since $\log 0$ does not exist), axis labels and a legend.
Then say in one sentence which range of $\lambda$ gives the lowest test loss.

=== BEGIN MARK SCHEME ===
2 points: both curves, labelled, log-scale losses, λ = 0 visible (symlog or marked separately), axis labels
and legend (1); a correct reading: the training loss rises with λ, the test loss falls by orders of
magnitude up to λ ≈ 0.3–3 and rises again for large λ (1). 1 point if the plot is there but unreadable
(linear scale hiding the small losses, no legend).
=== END MARK SCHEME ===
""", "plot_lambda_sweep", 2),
("free", r"""
### BEGIN SOLUTION
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(LAMBDAS, train_losses, "o-", label="training loss")
ax.plot(LAMBDAS, test_losses, "s--", label="test loss")
ax.set_xscale("symlog", linthresh=1e-3)
ax.set_yscale("log")
ax.set_xlabel("weight decay λ (symlog scale)")
ax.set_ylabel("final loss, mean ½(ŷ − y)²")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
plt.show()
### END SOLUTION
"""),
("answer", r"""
*YOUR ANSWER HERE (one sentence).*
"""),
("md", r"""
## 5. Choosing $\lambda$ honestly (3 points)

Picking the $\lambda$ with the lowest **test** loss and then reporting that test loss is cheating: the
number is optimistic, because the test set was used to tune. Carve a validation split out of the training
data instead. Write `select_lambda(X, y, lambdas, n_val=20)`:

* the **last** `n_val` rows of `X, y` are the validation set, the others the training part;
* for each $\lambda$, train with `train_ridge` on the training part and compute the validation loss;
* return `(best_lambd, val_losses)`: the $\lambda$ with the smallest validation loss and the list of
  validation losses (floats), in the order of `lambdas`.

`select_lambda` must use only its arguments, never `X_test`/`y_test`. Then retrain on **all** of
`X_train, y_train` with the chosen $\lambda$ and compute `final_test_loss`, the test loss of that model:
the one and only time this model meets the test set.
"""),
("solution", r"""
def select_lambda(X, y, lambdas, n_val=20):
    ### BEGIN SOLUTION
    X_fit, y_fit, X_val, y_val = X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]
    val_losses = []
    for lambd in lambdas:
        w, b = train_ridge(X_fit, y_fit, lambd)
        val_losses.append(squared_loss(w, b, X_val, y_val))
    best = min(range(len(lambdas)), key=lambda i: val_losses[i])
    return lambdas[best], val_losses
    ### END SOLUTION

best_lambd, val_losses = select_lambda(X_train, y_train, LAMBDAS)
### BEGIN SOLUTION
w, b = train_ridge(X_train, y_train, best_lambd)
final_test_loss = squared_loss(w, b, X_test, y_test)
### END SOLUTION
print(f"chosen lambda = {best_lambd}, test loss of the retrained model = {final_test_loss:.4g}")
""", "select_lambda"),
("test", r"""
vl = G.values(val_losses, "val_losses")
assert len(vl) == len(LAMBDAS), f"val_losses has {len(vl)} entries; expected one per lambda ({len(LAMBDAS)})."
G.scalar(best_lambd, "best_lambd")
assert best_lambd in LAMBDAS, f"best_lambd = {best_lambd} is not one of the candidates {LAMBDAS}."
assert vl[LAMBDAS.index(best_lambd)] <= min(vl) * (1 + 1e-9), (
    "best_lambd is not the lambda with the smallest validation loss in val_losses.")
# select_lambda must not look at the test set: hide it and ask again.
_saved = X_test, y_test
X_test, y_test = torch.full_like(X_test, float("nan")), torch.full_like(y_test, float("nan"))
try:
    again, vl_again = select_lambda(X_train, y_train, LAMBDAS)
finally:
    X_test, y_test = _saved
G.assert_close(vl_again, vl, "the validation losses when the test set is hidden", rtol=1e-6, atol=1e-9,
               hint="select_lambda read X_test/y_test: choose lambda on the last n_val rows of the training data.")
### BEGIN HIDDEN TESTS
""" + REF + r"""
ref = []
for lambd in LAMBDAS:
    w_ref, b_ref = reference_ridge(X_train[:-20], y_train[:-20], lambd)
    ref.append(reference_loss(w_ref, b_ref, X_train[-20:], y_train[-20:]))
G.assert_close(vl, ref, "val_losses", rtol=2e-3, atol=1e-6,
               hint="Train on all rows but the last n_val, and compute the loss on the last n_val rows.")
assert ref[LAMBDAS.index(best_lambd)] <= min(ref) * 1.01, (
    f"best_lambd = {best_lambd} does not have (nearly) the lowest validation loss.")
X5, y5 = X_test[:45], y_test[:45]
lam5, vl5 = select_lambda(X5, y5, [0.01, 1.0, 10.0], n_val=15)
ref5 = []
for lambd in [0.01, 1.0, 10.0]:
    w_ref, b_ref = reference_ridge(X5[:-15], y5[:-15], lambd)
    ref5.append(reference_loss(w_ref, b_ref, X5[-15:], y5[-15:]))
G.assert_close(vl5, ref5, "val_losses of select_lambda on other data with n_val=15", rtol=2e-3, atol=1e-6,
               hint="Use the arguments X, y, lambdas and n_val, not global variables.")
### END HIDDEN TESTS
""", "test_select_lambda", 2),
("test", r"""
G.scalar(final_test_loss, "final_test_loss")
### BEGIN HIDDEN TESTS
""" + REF + r"""
w_ref, b_ref = reference_ridge(X_train, y_train, best_lambd)
G.assert_close(final_test_loss, reference_loss(w_ref, b_ref, X_test, y_test), "final_test_loss",
               rtol=2e-3, atol=1e-7,
               hint="Retrain on all of X_train, y_train with best_lambd, then compute the loss on the test set once.")
### END HIDDEN TESTS
""", "test_final_test_loss", 1),
("md", r"""
The validation split is noisy (20 examples): neighbouring values of $\lambda$ can swap places, and that is
fine. What matters is that the test set played no part in the choice, so `final_test_loss` is an honest
estimate.

## 6. The MAP reading (written answer)
"""),
("task", r"""
**Question (3 points).** Show that minimising
$L(\mathbf w) + \tfrac{\lambda}{2}\lVert\mathbf w\rVert^2$, with $L$ the mean squared loss above, is
maximum a-posteriori (MAP) estimation: state the likelihood and the prior, say which prior gives the L2
penalty, how $\lambda$ relates to the noise and prior variances, and which prior would give the L1 penalty
of part 3. Write it in the cell below (a few lines, with formulas).

=== BEGIN MARK SCHEME ===
Model answer: with Gaussian noise $y = \mathbf w^\top\mathbf x + b + \epsilon$, $\epsilon\sim\mathcal
N(0,\sigma^2)$, the likelihood is $\prod_i \mathcal N(y_i; \mathbf w^\top\mathbf x_i + b, \sigma^2)$; with
the prior $\mathbf w \sim \mathcal N(0, \tau^2 I)$, $-\log p(\mathbf w\mid\text{data}) = \frac{1}{2\sigma^2}
\sum_i (\hat y_i - y_i)^2 + \frac{1}{2\tau^2}\lVert\mathbf w\rVert^2 + \text{const}$. Dividing by $n/\sigma^2$
gives the mean loss plus $\frac{\lambda}{2}\lVert\mathbf w\rVert^2$ with $\lambda = \sigma^2/(n\tau^2)$: a
narrower prior or noisier data means stronger decay. A Laplace prior $p(w_j)\propto e^{-|w_j|/s}$ gives the
L1 penalty.
Rubric: likelihood with Gaussian noise (1); Gaussian prior → L2 via −log posterior, argmax ↔ argmin (1);
λ = σ²/(nτ²) or an equivalent statement of the ratio, and the Laplace prior for L1 (1).
=== END MARK SCHEME ===
""", "map_reading", 3),
("answer", r"""
*YOUR ANSWER HERE.*
"""),
]
