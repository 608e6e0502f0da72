"""The dropout chapter's measurement tools: variance definition, hooks, MC dropout."""
import pytest
import torch
from torch import nn

from regcourse.dropout_tools import (ActivationRecorder, VarianceTracker, activation_variance,
                                     dropout_modules, mc_dropout_predict, unit_variance)


def _net(p1=0.2, p2=0.5):
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(p1),
                         nn.Linear(16, 16), nn.ReLU(), nn.Dropout(p2), nn.Linear(16, 3))


def test_unit_variance_is_per_unit_across_batch_then_averaged():
    # Two units: one constant (variance 0 across examples), one alternating 0/2 (variance 1).
    H = torch.tensor([[5.0, 0.0], [5.0, 2.0], [5.0, 0.0], [5.0, 2.0]])
    assert unit_variance(H) == pytest.approx(0.5)
    # The whole-tensor variance, the learners' reading of the exercise, is a different number.
    assert float(H.var(unbiased=False)) != pytest.approx(0.5)


def test_unit_variance_matches_torch_on_random_data_and_ignores_unit_offsets():
    g = torch.Generator().manual_seed(0)
    H = torch.randn(100, 7, generator=g)
    expected = float(H.var(dim=0, unbiased=False).mean())
    assert unit_variance(H) == pytest.approx(expected, rel=1e-6)
    shifted = H + torch.arange(7.0) * 100  # a constant per unit does not vary with the input
    assert unit_variance(shifted) == pytest.approx(expected, rel=1e-4)  # float32 rounding of +600


def test_unit_variance_rejects_bad_shapes():
    with pytest.raises(ValueError):
        unit_variance(torch.ones(5))
    with pytest.raises(ValueError):
        unit_variance(torch.ones(1, 5))


def test_recorder_captures_outputs_and_removes_its_hooks():
    net = _net()
    X = torch.randn(32, 8)
    with ActivationRecorder({"relu1": net[1], "drop2": net[5]}) as rec:
        out = net(X)
    assert rec.outputs["relu1"].shape == (32, 16)
    assert not rec.outputs["relu1"].requires_grad
    assert bool((rec.outputs["relu1"] >= 0).all())
    assert out.requires_grad  # the model's own graph is untouched
    assert all(len(m._forward_hooks) == 0 for m in net.modules())


def test_recorder_removes_hooks_after_an_exception():
    net = _net()
    with pytest.raises(RuntimeError):
        with ActivationRecorder({"relu1": net[1]}):
            net(torch.randn(4, 5))  # wrong input width
    assert all(len(m._forward_hooks) == 0 for m in net.modules())


def test_recorder_rejects_non_modules():
    with pytest.raises(TypeError):
        ActivationRecorder({"f": torch.relu})


def test_activation_variance_eval_is_deterministic_train_is_not_and_mode_is_restored():
    torch.manual_seed(0)
    net = _net(0.5, 0.5)
    X = torch.randn(256, 8)
    modules = {"after mask": net[2]}
    net.train()
    a = activation_variance(net, modules, X, mode="eval")
    b = activation_variance(net, modules, X, mode="eval")
    assert a == b
    assert net.training and net[2].training
    net.eval()
    c = activation_variance(net, modules, X, mode="train")
    d = activation_variance(net, modules, X, mode="train")
    assert c != d
    assert not net.training and not net[2].training


def test_activation_variance_after_mask_adds_the_dropout_variance():
    # For h' = mask * h / (1-p): E[h'^2] = h^2 / (1-p), so the mean square grows by p/(1-p) * E[h^2].
    torch.manual_seed(0)
    p = 0.5
    net = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(p))
    X = torch.randn(4096, 8)
    before = activation_variance(net, {"h": net[1]}, X, mode="eval")["h"]
    after = activation_variance(net, {"h": net[2]}, X, mode="train")["h"]
    with torch.no_grad():
        H = net[1](net[0](X))
    mean_sq = float((H ** 2).mean())
    assert after == pytest.approx(before + p / (1 - p) * mean_sq, rel=0.05)


def test_activation_variance_reports_modules_not_in_forward():
    net = _net()
    stray = nn.ReLU()
    with pytest.raises(RuntimeError, match="not called"):
        activation_variance(net, {"stray": stray}, torch.randn(4, 8))


def test_variance_tracker_records_every_n_steps():
    net = _net()
    X = torch.randn(64, 8)
    tracker = VarianceTracker({"h1": net[1], "h2": net[4]}, X, every=3)
    tracker.record(net, 0)
    for step in range(1, 10):
        tracker(net, step)
    assert tracker.steps == [0, 3, 6, 9]
    assert len(tracker.values["h1"]) == len(tracker.values["h2"]) == 4
    with pytest.raises(ValueError):
        VarianceTracker({"h1": net[1]}, X, every=0)


def test_variance_tracker_works_as_fit_callback():
    from regcourse import fit, set_seed

    class Data:
        pass
    g = set_seed(0)
    d = Data()
    d.X_train, d.y_train = torch.randn(200, 8, generator=g), torch.randint(0, 3, (200,), generator=g)
    d.X_test, d.y_test = d.X_train[:50], d.y_train[:50]
    net = _net()
    tracker = VarianceTracker({"h1": net[1]}, d.X_test, every=2)
    fit(net, d, epochs=2, lr=0.1, batch_size=50, on_batch=tracker, progress=False, generator=g)
    assert tracker.steps == [2, 4, 6, 8]


def test_dropout_modules_finds_all_kinds():
    net = nn.Sequential(nn.Dropout(0.1), nn.Linear(2, 2), nn.Dropout1d(0.2), nn.AlphaDropout(0.1))
    assert len(dropout_modules(net)) == 3


def test_mc_dropout_spread_is_zero_without_dropout_and_positive_with_it():
    torch.manual_seed(0)
    X = torch.randn(5, 8)
    no_drop = _net(0.0, 0.0)
    r0 = mc_dropout_predict(no_drop, X, T=10)
    assert float(r0["std"].max()) < 1e-6
    assert torch.equal(r0["votes"].max(dim=1).values, torch.ones(5))
    net = _net(0.5, 0.5)
    r = mc_dropout_predict(net, X, T=50)
    assert r["samples"].shape == (50, 5, 3)
    assert r["mean"].shape == r["std"].shape == r["votes"].shape == (5, 3)
    assert float(r["std"].max()) > 0
    torch.testing.assert_close(r["mean"].sum(dim=1), torch.ones(5))
    torch.testing.assert_close(r["votes"].sum(dim=1), torch.ones(5))
    assert bool((r["entropy"] >= 0).all()) and bool((r["entropy"] <= torch.log(torch.tensor(3.0))).all())


def test_mc_dropout_keeps_other_layers_in_eval_and_restores_modes():
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    net.eval()
    running = net[1].running_mean.clone()
    mc_dropout_predict(net, torch.randn(32, 8), T=5)
    assert torch.equal(net[1].running_mean, running)  # batch norm stayed in eval mode
    assert not any(m.training for m in net.modules())


def test_mc_dropout_is_repeatable_with_a_seed_and_needs_dropout_layers():
    net = _net()
    X = torch.randn(3, 8)
    a = mc_dropout_predict(net, X, T=4, generator_seed=1)["samples"]
    b = mc_dropout_predict(net, X, T=4, generator_seed=1)["samples"]
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="enable='all'"):
        mc_dropout_predict(nn.Linear(8, 3), X, T=2)

    class Scratch(nn.Module):  # dropout written in forward(), gated by self.training
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 3)

        def forward(self, X):
            return self.lin(nn.functional.dropout(X, 0.5, training=self.training))
    scratch = Scratch().eval()
    r = mc_dropout_predict(scratch, X, T=20, enable="all")
    assert float(r["std"].max()) > 0
    assert not scratch.training
