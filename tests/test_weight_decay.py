"""Tests of the weight-decay chapter, run on the code the reader sees.

The chapter's code cells carry the tag ``chapter-code`` in their metadata; scripts/harvest_chapter_code.py
generates regcourse.chapters.weight_decay_from_scratch and .weight_decay_concise from them (kept in sync by
tests/test_chapter_code.py), so a change in the book is a change in what is tested here.

Every seed goes through regcourse (``make_generator``), so REGCOURSE_SEED_OFFSET shifts the seeds of these
tests too: they check properties and bands that hold for any seed, not the digits of one run. Identities are
compared in float64; float32 results of two implementations are compared relative to their size.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch

from regcourse import make_generator
from regcourse.chapters import weight_decay_concise, weight_decay_from_scratch

CHAPTER = Path(__file__).resolve().parent.parent / "book" / "weight_decay"
NOTEBOOKS = ("01_theory.ipynb", "02_from_scratch.ipynb", "03_concise.ipynb")

# ||w||_2 after training in D2L's setup (d = 200, 20 training examples, lr 0.003, 100 epochs): mean and one
# standard deviation over 200 seeds (1000 to 1199, which the chapter does not use), rounded.
REFERENCE = {0: (13.5, 0.7), 3: (0.366, 0.018)}


def max_relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| divided by max |b|: how many digits two float32 computations of the same thing share."""
    return float((a - b).abs().max()) / max(float(b.abs().max()), 1e-12)


@pytest.fixture(autouse=True)
def one_thread():
    """The chapter's tensors are tiny: one thread is fastest, and fair to a parallel test run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scratch():
    return weight_decay_from_scratch


@pytest.fixture(scope="module")
def concise():
    return weight_decay_concise


# --- seeds ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NOTEBOOKS)
def test_chapters_seed_only_through_regcourse(name):
    """Direct seeding would ignore REGCOURSE_SEED_OFFSET, so the seed checks would not check those runs."""
    nb = nbformat.read(CHAPTER / name, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert not re.search(r"manual_seed\s*\(", code), \
        f"{name} seeds torch directly; use regcourse.set_seed/make_generator"


# --- the lambda/2 convention ------------------------------------------------------------------------------

def test_l2_penalty_is_half_squared_norm_with_gradient_w(scratch):
    gen = make_generator(0)
    for shape in ((7,), (200, 1), (3, 4)):
        w = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
        value = scratch.l2_penalty(w)
        assert value.dim() == 0
        assert torch.allclose(value, (w.detach() ** 2).sum() / 2, rtol=1e-12, atol=0)
        value.backward()
        assert torch.allclose(w.grad, w.detach(), rtol=1e-12, atol=0), \
            "the gradient of l2_penalty(w) must be w (lambda/2 convention)"


@pytest.mark.parametrize("lambd", [0.0, 3.0, 50.0])
def test_sgd_step_is_shrink_then_gradient(scratch, lambd):
    """One step of the chapter's loss + sgd equals w <- (1 - lr*lambd) w - lr * grad(data loss) (float64)."""
    ns = scratch
    (X, y), _, gen = ns.make_data(1)
    w, b = ns.init_params(gen)
    w, b = w.detach().double().requires_grad_(), b.detach().double().requires_grad_()
    lr, Xb, yb = ns.lr, X[:5].double(), y[:5].double()
    grad_w, grad_b = torch.autograd.grad(ns.squared_loss(ns.linreg(Xb, w, b), yb), (w, b))
    expected_w = (1 - lr * lambd) * w.detach() - lr * grad_w
    expected_b = b.detach() - lr * grad_b
    loss = ns.squared_loss(ns.linreg(Xb, w, b), yb) + lambd * ns.l2_penalty(w)
    loss.backward()
    ns.sgd([w, b], lr)
    assert torch.allclose(w.detach(), expected_w, rtol=1e-12, atol=1e-12)
    assert torch.allclose(b.detach(), expected_b, rtol=1e-12, atol=1e-12)
    assert float(w.grad.abs().max()) == 0.0 and float(b.grad.abs().max()) == 0.0, "sgd must zero the gradients"


# --- the reference numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize("lambd", [0, 3])
def test_seeded_run_within_three_std_of_reference(scratch, lambd):
    mean, std = REFERENCE[lambd]
    w, b, history = scratch.train(lambd)
    norm = float(w.norm())
    assert abs(norm - mean) < 3 * std, f"lambda={lambd}: ||w||_2 = {norm:.3f}, reference {mean} ± {std}"
    assert len(history["train_loss"]) == len(history["test_loss"]) == scratch.num_epochs


@pytest.mark.parametrize("lambd", [0, 3])
def test_mean_over_seeds_within_one_std_of_reference(scratch, lambd):
    """The mean of 8 seeds has a standard error of std/sqrt(8): one std is a band of about 2.8 of those."""
    mean, std = REFERENCE[lambd]
    norms = scratch.train_many([float(lambd)] * 8, list(range(8)))[0].norm(dim=(1, 2))
    assert abs(float(norms.mean()) - mean) < std, f"lambda={lambd}: mean over 8 seeds {norms.mean():.3f}"
    # and the spread is of the size the reference says (not a collapsed or exploding run)
    assert 0.3 * std < float(norms.std()) < 3 * std


def test_weight_decay_generalizes_better_in_every_seed(scratch):
    """Properties the prose relies on: lambda = 3 trades training fit for a far lower test loss."""
    seeds = list(range(10, 20))
    _, _, train_loss, test_loss = scratch.train_many([0.0] * 10 + [3.0] * 10, seeds * 2)
    assert bool((train_loss[:10] < train_loss[10:]).all())
    assert bool((test_loss[10:] < test_loss[:10] / 50).all())


def test_train_many_reproduces_train(scratch):
    w_many, b_many, train_loss, test_loss = scratch.train_many([0.0, 3.0, 3.0], [2, 2, 4])
    for k, (lambd, seed) in enumerate([(0, 2), (3, 2), (3, 4)]):
        w, b, history = scratch.train(lambd, seed)
        # the same algorithm with float32 sums in another order: equal to about 1e-6 of the weights' size
        assert max_relative_difference(w_many[k], w) < 1e-4
        assert float((b_many[k].reshape(1) - b).abs().max()) < 1e-4 * max(float(w.abs().max()), 1.0)
        assert float(test_loss[k]) == pytest.approx(history["test_loss"][-1], rel=1e-3)


def test_lr_threshold_between_half_squared_error_and_mse(scratch):
    """Learner question 3, on 5 seeds: lr 0.03 converges with the half squared error, diverges with
    nn.MSELoss (= our loss at lr 0.06), and 0.05 diverges with either."""
    seeds = list(range(20, 25))
    at = {lr: scratch.train_many([0.0] * 5, seeds, lr=lr)[2] for lr in (0.003, 0.03, 0.05, 0.06)}
    assert bool((at[0.03] < at[0.003]).all())
    assert not bool((at[0.05] < 1e3).any()) and not bool((at[0.06] < 1e3).any())
    # and the real nn.MSELoss at lr 0.03 does what lr 0.06 does with ours
    history = scratch.train(0, seeds[0], lr=0.03, loss=torch.nn.MSELoss())[2]
    assert not history["train_loss"][-1] < 1e3


# --- the concise version ----------------------------------------------------------------------------------

def test_concise_uses_the_from_scratch_code_itself():
    """03_concise imports 02's code instead of repeating it: the same objects, not copies."""
    for name in ("make_data", "init_params", "train", "train_many", "l2_penalty", "lr", "num_epochs"):
        assert getattr(weight_decay_concise, name) is getattr(weight_decay_from_scratch, name), name


@pytest.mark.parametrize("wd,seed", [(3.0, 0), (3.0, 7), (0.5, 3)])
def test_concise_matches_from_scratch(concise, wd, seed):
    net, h_concise = concise.train_concise(wd, seed)
    w, b, h_scratch = concise.train(wd, seed)
    assert max_relative_difference(net.weight.detach().T, w) < 1e-4
    assert float((net.bias.detach() - b).abs().max()) < 1e-4 * max(float(w.abs().max()), 1.0)
    assert h_concise["test_loss"][-1] == pytest.approx(h_scratch["test_loss"][-1], rel=1e-4)


def test_trainer_decays_weight_but_not_bias(concise):
    """With a zero data gradient, one step must shrink the weight by (1 - lr*wd) and leave the bias alone."""
    net = torch.nn.Linear(4, 1).double()
    with torch.no_grad():
        net.weight.fill_(2.0)
        net.bias.fill_(1.5)
    wd, lr = 3.0, 0.01
    trainer = concise.make_trainer(net, wd, lr)
    trainer.zero_grad()
    (0.0 * net(torch.ones(2, 4, dtype=torch.float64)).sum()).backward()      # gradients exist and are zero
    trainer.step()
    assert torch.allclose(net.weight.detach(), torch.full((1, 4), 2.0 * (1 - lr * wd), dtype=torch.float64),
                          rtol=1e-12, atol=0)
    assert float(net.bias.detach()) == 1.5, "the bias must not be decayed"
    for group in trainer.param_groups:
        if any(p is net.bias for p in group["params"]):
            assert group["weight_decay"] == 0
        if any(p is net.weight for p in group["params"]):
            assert group["weight_decay"] == wd


def exact_bias(X, y, lambd, decay_bias):
    """The bias of the exact minimizer of mean((Xw + b - y)^2)/2 + lambd/2 (|w|^2 [+ b^2]), in float64."""
    A = torch.cat([X, torch.ones(len(X), 1)], dim=1).double()
    penalty = torch.full((A.shape[1],), float(lambd), dtype=torch.float64)
    if not decay_bias:
        penalty[-1] = 0.0
    theta = torch.linalg.solve(A.T @ A / len(A) + torch.diag(penalty), A.T @ y.double() / len(A))
    return float(theta[-1])


def test_bias_learns_the_offset_unless_decayed(concise):
    """The chapter's demonstration: with labels shifted by 5 and lambda = 3, the undecayed bias learns the
    offset and the decayed one stays far below it; both runs end at the exact minimizers of their objectives."""
    def decay_everything(net, wd, lr):
        return torch.optim.SGD(net.parameters(), lr=lr, weight_decay=wd)
    seed = 1
    (X, y), _, _ = concise.make_data(seed, b=5.0)
    for make_trainer, decay_bias in ((concise.make_trainer, False), (decay_everything, True)):
        net, _ = concise.train_concise(3, seed=seed, b=5.0, lr=0.02, epochs=250, make_trainer=make_trainer)
        assert abs(float(net.bias.detach()) - exact_bias(X, y, 3.0, decay_bias)) < 0.1
    assert abs(exact_bias(X, y, 3.0, False) - 5.0) < 0.2
    assert exact_bias(X, y, 3.0, True) < 1.0
