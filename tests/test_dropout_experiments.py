"""The dropout chapter's measurement code: the activation-variance definition, the forward-hook tracker and
Monte-Carlo dropout.

The code is the page's own: regcourse.chapters.dropout_experiments is generated from the code cells tagged
``chapter-code`` in book/dropout/04_experiments.ipynb, the page that teaches it, so these tests check what the
reader sees. The ``*_rejects_*`` tests run the same checks on broken variants of that code (made by editing
its source text with ``regcourse.chapters.edited``) and expect them to fail.
"""
import pytest
import torch
from torch import nn

from regcourse.chapters import dropout_experiments, edited

SEEDS = range(4)


@pytest.fixture(scope="module")
def chapter():
    return dropout_experiments


def _net(p1=0.2, p2=0.5):
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(p1),
                         nn.Linear(16, 16), nn.ReLU(), nn.Dropout(p2), nn.Linear(16, 3))


# ---------------------------------------------------------------------------------------------------------
# unit_variance: per unit across the batch, then the mean over units

def check_unit_variance(unit_variance):
    # Two units: one constant (variance 0 across examples), one alternating 0/2 (variance 1).
    H = torch.tensor([[5.0, 0.0], [5.0, 2.0], [5.0, 0.0], [5.0, 2.0]])
    assert unit_variance(H) == pytest.approx(0.5), "unit variance of the two-unit example"
    # The whole-tensor variance, the learners' reading of the exercise, is a different number (about 5.6).
    assert float(H.var(unbiased=False)) != pytest.approx(0.5)
    for seed in SEEDS:
        H = torch.randn(100, 7, generator=torch.Generator().manual_seed(seed)).double()
        expected = float(((H - H.mean(dim=0)) ** 2).mean(dim=0).mean())        # the formula, written out
        assert unit_variance(H) == pytest.approx(expected, rel=1e-12)
        # A constant offset per unit does not vary with the input (compare in float64: no rounding of +600).
        assert unit_variance(H + torch.arange(7.0, dtype=torch.float64) * 100) == pytest.approx(expected, rel=1e-9)


def test_unit_variance_is_per_unit_across_batch_then_averaged(chapter):
    check_unit_variance(chapter.unit_variance)


def test_unit_variance_returns_a_float_and_does_not_need_gradients(chapter):
    H = torch.randn(10, 3, requires_grad=True)
    assert isinstance(chapter.unit_variance(H * 2), float)


def test_checks_reject_whole_tensor_variance():
    broken = edited(dropout_experiments, "H.detach().double().var(dim=0, unbiased=False).mean()",
                                   "H.detach().double().var(unbiased=False)")
    with pytest.raises(AssertionError, match="two-unit example"):
        check_unit_variance(broken.unit_variance)


def test_checks_reject_unbiased_variance():
    broken = edited(dropout_experiments, "unbiased=False", "unbiased=True")
    with pytest.raises(AssertionError):
        check_unit_variance(broken.unit_variance)


# ---------------------------------------------------------------------------------------------------------
# VarianceTracker: forward hooks, modes, schedule

def test_tracker_records_every_n_steps_and_the_untrained_network(chapter):
    net = _net()
    X = torch.randn(64, 8)
    tracker = chapter.VarianceTracker({"h1": net[1], "h2": net[4]}, X, every=3, mode="eval")
    tracker.record(net, 0)
    for step in range(1, 10):
        tracker(net, step)
    assert tracker.steps == [0, 3, 6, 9]
    assert len(tracker.values["h1"]) == len(tracker.values["h2"]) == 4


def test_tracker_measures_the_hooked_module_output(chapter):
    torch.manual_seed(0)
    net = _net(0.0, 0.0)
    X = torch.randn(128, 8)
    tracker = chapter.VarianceTracker({"h1": net[1]}, X, every=1, mode="eval")
    tracker.record(net, 0)
    with torch.no_grad():
        H1 = torch.relu(net[0](X))
    assert tracker.values["h1"][0] == pytest.approx(chapter.unit_variance(H1), rel=1e-12)


def test_tracker_removes_its_hooks_and_restores_the_mode(chapter):
    net = _net()
    tracker = chapter.VarianceTracker({"h1": net[1], "d2": net[5]}, torch.randn(32, 8), every=1, mode="train")
    for training in (True, False):
        net.train(training)
        tracker.record(net, 1)
        assert net.training == training and net[5].training == training
        assert all(len(m._forward_hooks) == 0 for m in net.modules())


def test_tracker_removes_its_hooks_after_an_exception(chapter):
    net = _net()
    tracker = chapter.VarianceTracker({"h1": net[1]}, torch.randn(4, 5), every=1, mode="eval")  # wrong width
    net.train()
    with pytest.raises(RuntimeError):
        tracker.record(net, 1)
    assert all(len(m._forward_hooks) == 0 for m in net.modules())
    assert net.training


def test_tracker_eval_mode_is_deterministic_and_train_mode_adds_the_dropout_variance(chapter):
    # After the mask h' = m h / (1 - p): E[h'^2] = h^2 / (1 - p), so the per-unit variance grows by
    # p / (1 - p) times the mean square of h (up to the sampling error of the masks: 4096 x 64 draws).
    p = 0.5
    for seed in SEEDS:
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(p))
        X = torch.randn(4096, 8)
        before = chapter.VarianceTracker({"h": net[1]}, X, every=1, mode="eval")
        after = chapter.VarianceTracker({"h": net[2]}, X, every=1, mode="train")
        for _ in range(2):
            before.record(net, 0)
            after.record(net, 0)
        assert before.values["h"][0] == before.values["h"][1]
        assert after.values["h"][0] != after.values["h"][1]
        with torch.no_grad():
            mean_square = float((torch.relu(net[0](X)).double() ** 2).mean())
        predicted = before.values["h"][0] + p / (1 - p) * mean_square
        assert after.values["h"][0] == pytest.approx(predicted, rel=0.03)


def test_checks_reject_a_tracker_that_measures_in_the_wrong_mode():
    broken = edited(dropout_experiments, 'net.train(self.mode == "train")', 'net.train(True)')
    torch.manual_seed(0)
    net = _net(0.5, 0.5)
    tracker = broken.VarianceTracker({"d": net[2]}, torch.randn(256, 8), every=1, mode="eval")
    tracker.record(net, 0)
    tracker.record(net, 0)
    assert tracker.values["d"][0] != tracker.values["d"][1]     # eval mode would give equal numbers


def test_tracker_works_as_fit_callback(chapter):
    from types import SimpleNamespace

    from regcourse import fit, set_seed
    g = set_seed(0)
    X, y = torch.randn(200, 8, generator=g), torch.randint(0, 3, (200,), generator=g)
    data = SimpleNamespace(X_train=X, y_train=y, X_test=X[:50], y_test=y[:50])
    net = _net()
    tracker = chapter.VarianceTracker({"h1": net[1]}, X[:50], every=2, mode="eval")
    fit(net, data, epochs=2, lr=0.1, batch_size=50, on_batch=tracker, progress=False, generator=g)
    assert tracker.steps == [2, 4, 6, 8]


# ---------------------------------------------------------------------------------------------------------
# mc_dropout_predict

def test_mc_dropout_spread_is_zero_without_dropout_and_positive_with_it(chapter):
    mc_dropout_predict = chapter.mc_dropout_predict
    torch.manual_seed(0)
    X = torch.randn(5, 8)
    r0 = mc_dropout_predict(_net(0.0, 0.0), X, T=10)
    assert float(r0["std"].max()) == 0.0
    assert torch.equal(r0["votes"].max(dim=1).values, torch.ones(5))
    r = mc_dropout_predict(_net(0.5, 0.5), X, T=50)
    assert r["samples"].shape == (50, 5, 3)
    assert r["mean"].shape == r["std"].shape == r["votes"].shape == (5, 3)
    assert float(r["std"].max()) > 0
    torch.testing.assert_close(r["mean"].sum(dim=1), torch.ones(5))
    torch.testing.assert_close(r["votes"].sum(dim=1), torch.ones(5))
    torch.testing.assert_close(r["mean"], r["samples"].mean(dim=0))
    assert bool((r["entropy"] >= 0).all()) and bool((r["entropy"] <= torch.log(torch.tensor(3.0)) + 1e-6).all())


def test_mc_dropout_mean_approaches_the_average_of_the_thinned_networks(chapter):
    # With many passes the Monte-Carlo mean converges to the expectation over masks; for a single dropout
    # layer on 2 units that expectation can be enumerated exactly (4 masks).
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Dropout(0.5), nn.Linear(2, 4))
    X = torch.randn(6, 3)
    with torch.no_grad():
        H = torch.relu(net[0](X))
        exact = sum(torch.softmax(net[3](H * torch.tensor(m) / 0.5), dim=1)
                    for m in ([0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0])) / 4
    r = chapter.mc_dropout_predict(net, X, T=4000)
    torch.testing.assert_close(r["mean"], exact, atol=0.03, rtol=0)


def test_mc_dropout_keeps_other_layers_in_eval_and_leaves_eval_mode(chapter):
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    net.train()
    running = net[1].running_mean.clone()
    chapter.mc_dropout_predict(net, torch.randn(32, 8) + 3, T=5)
    assert torch.equal(net[1].running_mean, running)  # batch norm stayed in evaluation mode
    assert not any(m.training for m in net.modules())


def test_checks_reject_mc_dropout_that_switches_on_the_whole_network():
    broken = edited(dropout_experiments, "    net.eval()\n    for module", "    net.train()\n    for module")
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    running = net[1].running_mean.clone()
    broken.mc_dropout_predict(net, torch.randn(32, 8) + 3, T=5)
    assert not torch.equal(net[1].running_mean, running)  # the test above would catch this


def test_mc_dropout_is_repeatable_after_seeding(chapter):
    from regcourse import set_seed
    net = _net()
    X = torch.randn(3, 8)
    set_seed(1)
    a = chapter.mc_dropout_predict(net, X, T=4)["samples"]
    set_seed(1)
    b = chapter.mc_dropout_predict(net, X, T=4)["samples"]
    assert torch.equal(a, b)
