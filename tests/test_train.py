"""The shared training loop (regcourse.train): evaluation mode, that it actually learns, its advice on bad input;
and the seeds (regcourse.seeding)."""
import pytest
import torch
from torch import nn

from regcourse import evaluate, fit, set_seed
from regcourse.train import History


def test_evaluate_uses_eval_mode_and_restores_training_mode():
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    model.train()
    X, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    first = evaluate(model, X, y)
    second = evaluate(model, X, y)
    assert first == second  # dropout off: deterministic
    assert model.training
    assert 0.0 <= first["acc"] <= 1.0


class _Data:
    def __init__(self, g):
        self.X_train = torch.randn(512, 2, generator=g)
        self.y_train = (self.X_train[:, 0] > self.X_train[:, 1]).long()
        self.X_test = torch.randn(256, 2, generator=g)
        self.y_test = (self.X_test[:, 0] > self.X_test[:, 1]).long()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_learns_a_linearly_separable_problem(seed):
    g = set_seed(seed)
    model = nn.Linear(2, 2)
    history = fit(model, _Data(g), epochs=20, lr=0.5, batch_size=32, generator=g, progress=False)
    assert isinstance(history, History) and len(history.test_acc) == 20
    assert history.test_acc[-1] > 0.95
    assert history.train_loss[-1] < history.train_loss[0]


def test_fit_rejects_a_vector_loss_with_advice():
    g = set_seed(0)
    with pytest.raises(ValueError, match="mean"):
        fit(nn.Linear(2, 2), _Data(g), epochs=1, lr=0.1, progress=False,
            loss_fn=nn.CrossEntropyLoss(reduction="none"))


def test_fit_rejects_a_summed_loss_module():
    g = set_seed(0)
    with pytest.raises(ValueError, match="reduction='sum'"):
        fit(nn.Linear(2, 2), _Data(g), epochs=1, lr=0.1, progress=False,
            loss_fn=nn.CrossEntropyLoss(reduction="sum"))


def test_fit_stops_on_divergence_with_advice():
    g = set_seed(0)
    with pytest.raises(FloatingPointError, match="learning rate too large.*summed.*not zeroed"):
        fit(nn.Linear(2, 2), _Data(g), epochs=3, lr=1e38, progress=False)


def test_seed_offset_shifts_every_seed(monkeypatch):
    from regcourse import make_generator, seed_offset
    monkeypatch.delenv("REGCOURSE_SEED_OFFSET", raising=False)
    assert seed_offset() == 0
    base = torch.randn(3, generator=make_generator(5))
    monkeypatch.setenv("REGCOURSE_SEED_OFFSET", "2")
    assert seed_offset() == 2
    # seed 3 with offset 2 is seed 5 without: the same draws, from the generator and the global state
    assert torch.equal(torch.randn(3, generator=make_generator(3)), base)
    set_seed(3)
    assert torch.equal(torch.randn(3), base)


def test_seed_offset_rejects_a_non_integer(monkeypatch):
    from regcourse import seed_offset
    monkeypatch.setenv("REGCOURSE_SEED_OFFSET", "one")
    with pytest.raises(ValueError, match="REGCOURSE_SEED_OFFSET='one' is not a whole number"):
        seed_offset()
