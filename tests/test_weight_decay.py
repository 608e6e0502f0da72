"""Tests of the weight-decay chapter, run on the code the reader sees.

The chapter's code cells carry the tag ``chapter-code`` in their metadata; we extract them from the stored
notebooks with nbformat and exec them into a fresh namespace, so a change in the book is a change in what
is tested here.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch

CHAPTER = Path(__file__).resolve().parent.parent / "book" / "weight_decay"

# ||w||_2 after training in D2L's setup (d = 200, 20 training examples, lr 0.003, 100 epochs), re-simulated
# over 30 seeds: mean and one standard deviation.
REFERENCE = {0: (13.3, 0.8), 3: (0.36, 0.02)}


def chapter_cells(name: str, tag: str = "chapter-code") -> list[str]:
    nb = nbformat.read(CHAPTER / name, as_version=4)
    return [cell.source for cell in nb.cells
            if cell.cell_type == "code" and tag in cell.metadata.get("tags", [])]


def load_chapter(name: str) -> dict:
    namespace: dict = {"__name__": f"chapter_{Path(name).stem}"}
    cells = chapter_cells(name)
    assert cells, f"{name} has no cells tagged chapter-code"
    exec(compile("\n\n".join(cells), f"<chapter-code of {name}>", "exec"), namespace)
    return namespace


@pytest.fixture(autouse=True)
def one_thread():
    """The chapter's tensors are tiny: one thread is fastest, and fair to a parallel test run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scratch():
    return load_chapter("02_from_scratch.ipynb")


@pytest.fixture(scope="module")
def concise():
    return load_chapter("03_concise.ipynb")


# --- the lambda/2 convention ------------------------------------------------------------------------------

def test_l2_penalty_is_half_squared_norm_with_gradient_w(scratch):
    torch.manual_seed(0)
    for shape in ((7,), (200, 1), (3, 4)):
        w = torch.randn(shape, requires_grad=True)
        value = scratch["l2_penalty"](w)
        assert value.dim() == 0
        assert torch.allclose(value, (w.detach() ** 2).sum() / 2)
        value.backward()
        assert torch.allclose(w.grad, w.detach()), "the gradient of l2_penalty(w) must be w (lambda/2 convention)"


@pytest.mark.parametrize("lambd", [0.0, 3.0, 50.0])
def test_sgd_step_is_shrink_then_gradient(scratch, lambd):
    """One step of the chapter's loss + sgd equals w <- (1 - lr*lambd) w - lr * grad(data loss)."""
    ns = scratch
    (X, y), _, gen = ns["make_data"](1)
    w, b = ns["init_params"](gen)
    lr, Xb, yb = ns["lr"], X[:5], y[:5]
    grad_w, grad_b = torch.autograd.grad(ns["squared_loss"](ns["linreg"](Xb, w, b), yb), (w, b))
    expected_w = (1 - lr * lambd) * w.detach() - lr * grad_w
    expected_b = b.detach() - lr * grad_b
    loss = ns["squared_loss"](ns["linreg"](Xb, w, b), yb) + lambd * ns["l2_penalty"](w)
    loss.backward()
    ns["sgd"]([w, b], lr)
    assert torch.allclose(w.detach(), expected_w, atol=1e-6)
    assert torch.allclose(b.detach(), expected_b, atol=1e-7)
    assert float(w.grad.abs().max()) == 0.0 and float(b.grad.abs().max()) == 0.0, "sgd must zero the gradients"


# --- the reference numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize("lambd", [0, 3])
def test_seeded_run_within_three_std_of_reference(scratch, lambd):
    mean, std = REFERENCE[lambd]
    w, b, history = scratch["train"](lambd)
    norm = float(w.norm())
    assert abs(norm - mean) < 3 * std, f"lambda={lambd}: ||w||_2 = {norm:.3f}, reference {mean} ± {std}"
    assert len(history["train_loss"]) == len(history["test_loss"]) == scratch["num_epochs"]


@pytest.mark.parametrize("lambd", [0, 3])
def test_mean_over_seeds_within_one_std_of_reference(scratch, lambd):
    mean, std = REFERENCE[lambd]
    norms = torch.tensor([float(scratch["train"](lambd, seed)[0].norm()) for seed in range(8)])
    assert abs(float(norms.mean()) - mean) < std, f"lambda={lambd}: mean over 8 seeds {norms.mean():.3f}"
    # and the spread is of the size the reference says (not a collapsed or exploding run)
    assert 0.3 * std < float(norms.std()) < 3 * std


def test_weight_decay_generalizes_better_here(scratch):
    """Properties the prose relies on: lambda = 3 trades training fit for a far lower test loss."""
    _, _, h0 = scratch["train"](0, seed=5)
    _, _, h3 = scratch["train"](3, seed=5)
    assert h0["train_loss"][-1] < h3["train_loss"][-1]
    assert h3["test_loss"][-1] < h0["test_loss"][-1] / 50


def test_train_many_reproduces_train(scratch):
    w_many, b_many, train_loss, test_loss = scratch["train_many"]([0.0, 3.0, 3.0], [2, 2, 4])
    for k, (lambd, seed) in enumerate([(0, 2), (3, 2), (3, 4)]):
        w, b, history = scratch["train"](lambd, seed)
        assert torch.allclose(w_many[k], w, atol=1e-4)
        assert torch.allclose(b_many[k].reshape(1), b, atol=1e-5)
        assert float(test_loss[k]) == pytest.approx(history["test_loss"][-1], rel=1e-3)


# --- the concise version ----------------------------------------------------------------------------------

def test_concise_recap_is_the_from_scratch_code():
    """03_concise repeats 02's chapter code in a hidden cell; the two must not drift apart."""
    recap = chapter_cells("03_concise.ipynb", tag="recap")
    assert len(recap) == 1
    scratch_code = "\n".join(cell.strip("\n") + "\n" for cell in chapter_cells("02_from_scratch.ipynb"))
    assert recap[0].strip() == scratch_code.strip()


@pytest.mark.parametrize("wd,seed", [(3.0, 0), (3.0, 7), (0.5, 3)])
def test_concise_matches_from_scratch(concise, wd, seed):
    net, h_concise = concise["train_concise"](wd, seed)
    w, b, h_scratch = concise["train"](wd, seed)
    assert torch.allclose(net.weight.detach().T, w, atol=1e-6)
    assert torch.allclose(net.bias.detach(), b, atol=1e-6)
    assert h_concise["test_loss"][-1] == pytest.approx(h_scratch["test_loss"][-1], rel=1e-4)


def test_trainer_decays_weight_but_not_bias(concise):
    """With a zero data gradient, one step must shrink the weight by (1 - lr*wd) and leave the bias alone."""
    net = torch.nn.Linear(4, 1)
    with torch.no_grad():
        net.weight.fill_(2.0)
        net.bias.fill_(1.5)
    wd, lr = 3.0, 0.01
    trainer = concise["make_trainer"](net, wd, lr)
    trainer.zero_grad()
    (0.0 * net(torch.ones(2, 4)).sum()).backward()      # gradients exist and are zero
    trainer.step()
    assert torch.allclose(net.weight.detach(), torch.full((1, 4), 2.0 * (1 - lr * wd)))
    assert torch.allclose(net.bias.detach(), torch.tensor([1.5])), "the bias must not be decayed"
    for group in trainer.param_groups:
        if any(p is net.bias for p in group["params"]):
            assert group["weight_decay"] == 0
        if any(p is net.weight for p in group["params"]):
            assert group["weight_decay"] == wd


def test_decayed_bias_is_pulled_toward_zero(concise):
    """The chapter's demonstration: with labels shifted by 5, decaying the bias leaves it smaller."""
    def decay_everything(net, wd, lr):
        return torch.optim.SGD(net.parameters(), lr=lr, weight_decay=wd)
    kept, _ = concise["train_concise"](3, seed=1, b=5.0)
    decayed, _ = concise["train_concise"](3, seed=1, b=5.0, make_trainer=decay_everything)
    assert float(decayed.bias.detach()) < float(kept.bias.detach())
