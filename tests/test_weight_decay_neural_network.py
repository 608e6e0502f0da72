"""The code of weight_decay/04_neural_network, as the reader sees it: the Frobenius penalty and the parameter groups.

regcourse.chapters.weight_decay_neural_network is generated from the notebook's code cells tagged
``chapter-code``. Identities are checked in float64. The ``*_rejects_*`` tests run the same checks on broken
variants of the chapter code (made by editing its source text with ``regcourse.chapters.edited``) and expect
them to fail.
"""
import pytest
import torch

from regcourse.chapters import edited, weight_decay_neural_network

SEEDS = range(5)


@pytest.fixture(scope="module")
def wd():
    return weight_decay_neural_network


# ---------------------------------------------------------------------------------------------------------
# Weight decay on the network: the Frobenius penalty and the parameter groups.

def check_frobenius_penalty(ns):
    torch.manual_seed(0)
    net = ns.mlp().double()
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    # (1/2) sum over the layers of tr(W^T W), without the biases
    expected = sum(float(torch.trace(W.T @ W)) for W in (w.detach() for w in weights)) / 2
    with torch.no_grad():
        got = float(ns.frobenius_penalty(net))
    assert abs(got - expected) <= 1e-12 * expected, f"penalty {got}, expected {expected}"


def check_trainer_step(ns, lambd=0.01, lr=0.1):
    """One optimizer step equals one plain SGD step on loss + lambd * frobenius_penalty (float64)."""
    for seed in SEEDS:
        torch.manual_seed(seed)
        X, y = torch.rand(20, 784, dtype=torch.float64), torch.randint(0, 10, (20,))
        net_a = ns.mlp().double()
        net_b = ns.mlp().double()
        net_b.load_state_dict(net_a.state_dict())
        l = torch.nn.functional.cross_entropy(net_a(X), y) + lambd * ns.frobenius_penalty(net_a)
        l.backward()
        with torch.no_grad():
            for param in net_a.parameters():
                param -= lr * param.grad
        trainer = ns.make_trainer(net_b, lambd, lr)
        torch.nn.functional.cross_entropy(net_b(X), y).backward()
        trainer.step()
        for (name, a), b in zip(net_a.named_parameters(), net_b.parameters()):
            assert torch.allclose(a, b, rtol=0, atol=1e-12), f"seed {seed}: {name} differs after one step"


def test_network_shape(wd):
    net = wd.mlp()
    sizes = [(m.in_features, m.out_features) for m in net if isinstance(m, torch.nn.Linear)]
    assert sizes == [(784, 256), (256, 256), (256, 10)]


def test_frobenius_penalty(wd):
    check_frobenius_penalty(wd)


def test_trainer_decays_weights_not_biases(wd):
    net = wd.mlp()
    trainer = wd.make_trainer(net, 0.01, 0.1)
    decay = {id(p): g["weight_decay"] for g in trainer.param_groups for p in g["params"]}
    for m in net:
        if isinstance(m, torch.nn.Linear):
            assert decay[id(m.weight)] == 0.01 and decay[id(m.bias)] == 0
    assert len(decay) == len(list(net.parameters()))


def test_trainer_step_is_the_penalty(wd):
    check_trainer_step(wd)


def test_penalty_check_rejects_decayed_biases(wd):
    broken = edited(weight_decay_neural_network,
        "return [m.weight for m in net if isinstance(m, nn.Linear)]",
        "return [p for m in net if isinstance(m, nn.Linear) for p in (m.weight, m.bias)]")
    with pytest.raises(AssertionError):
        check_frobenius_penalty(broken)


def test_step_check_rejects_missing_half(wd):
    broken = edited(weight_decay_neural_network, "for W in weight_matrices(net)) / 2",
                                                 "for W in weight_matrices(net))")
    with pytest.raises(AssertionError):
        check_trainer_step(broken)
