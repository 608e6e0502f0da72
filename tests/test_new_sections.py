"""The code of the chapters weight_decay/04_neural_network and dropout/06_variants, as the reader sees it.

The code is taken from the notebooks themselves (the code cells tagged ``chapter-code``) and executed in a
fresh namespace. Each property is checked in float64 where it is an identity, and as a band that holds across
seeds where it is a statistic. The ``*_rejects_*`` tests run the same checks on broken variants of the chapter
code (made by editing its source text) and expect them to fail.
"""
from pathlib import Path

import nbformat
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
WEIGHT_DECAY = ROOT / "book" / "weight_decay" / "04_neural_network.ipynb"
VARIANTS = ROOT / "book" / "dropout" / "06_variants.ipynb"
SEEDS = range(5)


def load_chapter(path: Path, replace: tuple[str, str] | None = None) -> dict:
    """Execute the chapter-code cells of ``path``; ``replace=(old, new)`` edits their source first."""
    nb = nbformat.read(path, as_version=4)
    sources = [c.source for c in nb.cells
               if c.cell_type == "code" and "chapter-code" in c.metadata.get("tags", [])]
    assert sources, f"no code cell tagged 'chapter-code' in {path}"
    if replace is not None:
        old, new = replace
        assert any(old in s for s in sources), f"{old!r} no longer occurs in the chapter code of {path.name}"
        sources = [s.replace(old, new) for s in sources]
    ns: dict = {}
    for i, source in enumerate(sources):
        exec(compile(source, f"{path.name}[chapter-code {i}]", "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def wd():
    return load_chapter(WEIGHT_DECAY)


@pytest.fixture(scope="module")
def variants():
    return load_chapter(VARIANTS)


# ---------------------------------------------------------------------------------------------------------
# Weight decay on the network: the Frobenius penalty and the parameter groups.

def check_frobenius_penalty(ns):
    torch.manual_seed(0)
    net = ns["mlp"]().double()
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    # (1/2) sum over the layers of tr(W^T W), without the biases
    expected = sum(float(torch.trace(W.T @ W)) for W in (w.detach() for w in weights)) / 2
    with torch.no_grad():
        got = float(ns["frobenius_penalty"](net))
    assert abs(got - expected) <= 1e-12 * expected, f"penalty {got}, expected {expected}"


def check_trainer_step(ns, lambd=0.01, lr=0.1):
    """One optimizer step equals one plain SGD step on loss + lambd * frobenius_penalty (float64)."""
    for seed in SEEDS:
        torch.manual_seed(seed)
        X, y = torch.rand(20, 784, dtype=torch.float64), torch.randint(0, 10, (20,))
        net_a = ns["mlp"]().double()
        net_b = ns["mlp"]().double()
        net_b.load_state_dict(net_a.state_dict())
        l = torch.nn.functional.cross_entropy(net_a(X), y) + lambd * ns["frobenius_penalty"](net_a)
        l.backward()
        with torch.no_grad():
            for param in net_a.parameters():
                param -= lr * param.grad
        trainer = ns["make_trainer"](net_b, lambd, lr)
        torch.nn.functional.cross_entropy(net_b(X), y).backward()
        trainer.step()
        for (name, a), b in zip(net_a.named_parameters(), net_b.parameters()):
            assert torch.allclose(a, b, rtol=0, atol=1e-12), f"seed {seed}: {name} differs after one step"


def test_network_shape(wd):
    net = wd["mlp"]()
    sizes = [(m.in_features, m.out_features) for m in net if isinstance(m, torch.nn.Linear)]
    assert sizes == [(784, 256), (256, 256), (256, 10)]


def test_frobenius_penalty(wd):
    check_frobenius_penalty(wd)


def test_trainer_decays_weights_not_biases(wd):
    net = wd["mlp"]()
    trainer = wd["make_trainer"](net, 0.01, 0.1)
    decay = {id(p): g["weight_decay"] for g in trainer.param_groups for p in g["params"]}
    for m in net:
        if isinstance(m, torch.nn.Linear):
            assert decay[id(m.weight)] == 0.01 and decay[id(m.bias)] == 0
    assert len(decay) == len(list(net.parameters()))


def test_trainer_step_is_the_penalty(wd):
    check_trainer_step(wd)


def test_penalty_check_rejects_decayed_biases(wd):
    broken = load_chapter(WEIGHT_DECAY, replace=(
        "return [m.weight for m in net if isinstance(m, nn.Linear)]",
        "return [p for m in net if isinstance(m, nn.Linear) for p in (m.weight, m.bias)]"))
    with pytest.raises(AssertionError):
        check_frobenius_penalty(broken)


def test_step_check_rejects_missing_half(wd):
    broken = load_chapter(WEIGHT_DECAY, replace=("for W in weight_matrices(net)) / 2",
                                                 "for W in weight_matrices(net))"))
    with pytest.raises(AssertionError):
        check_trainer_step(broken)


# ---------------------------------------------------------------------------------------------------------
# The dropout backward pass, by hand.

def check_backward(ns, p=0.4):
    for seed in SEEDS:
        gen = torch.Generator().manual_seed(seed)
        X = torch.randn(3, 5, dtype=torch.float64, generator=gen)
        G = torch.randn(3, 5, dtype=torch.float64, generator=gen)
        out, cache = ns["dropout_forward"](X, p, generator=gen)
        mask = cache[0]
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        assert torch.allclose(out, X * mask / (1 - p), rtol=1e-12, atol=0)
        grad = ns["dropout_backward"](G, cache)
        h = 1e-6
        numerical = torch.zeros_like(X)
        for i in range(X.shape[0]):
            for j in range(X.shape[1]):
                E = torch.zeros_like(X)
                E[i, j] = h
                plus = (G * (X + E) * mask / (1 - p)).sum()
                minus = (G * (X - E) * mask / (1 - p)).sum()
                numerical[i, j] = (plus - minus) / (2 * h)
        error = float((grad - numerical).abs().max() / (grad.abs() + numerical.abs()).max())
        assert error < 1e-7, f"seed {seed}: relative error {error:.1e} against central differences"


def test_backward_matches_numerical_gradient(variants):
    check_backward(variants)


def test_backward_check_rejects_missing_scaling(variants):
    broken = load_chapter(VARIANTS, replace=("return dout * mask / (1 - p)", "return dout * mask"))
    with pytest.raises(AssertionError):
        check_backward(broken)


def test_backward_check_rejects_fresh_mask(variants):
    broken = load_chapter(VARIANTS, replace=("return dout * mask / (1 - p)",
                                             "return dout * (torch.rand_like(dout) >= p).to(dout.dtype) / (1 - p)"))
    with pytest.raises(AssertionError):
        check_backward(broken)


def test_forward_rejects_bad_p(variants):
    with pytest.raises(ValueError, match="drop probability"):
        variants["dropout_forward"](torch.ones(2, 2), 1.0)


# ---------------------------------------------------------------------------------------------------------
# The noise layers: same mean and variance of the multiplicative factor.

def check_multiplier_moments(layer, p):
    for seed in SEEDS:
        torch.manual_seed(seed)
        factor = layer(torch.ones(400, 500), p)        # the multiplicative factor of each element
        mean, var = float(factor.mean()), float(factor.var())
        # 200,000 draws: the standard error of the mean is below 0.003, of the variance below 0.01.
        assert abs(mean - 1) < 0.015, f"seed {seed}, p = {p}: mean factor {mean:.4f}"
        assert abs(var - p / (1 - p)) < 0.05 * (1 + p / (1 - p)), f"seed {seed}, p = {p}: variance {var:.4f}"


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_and_gaussian_factors_have_the_same_moments(variants, p):
    check_multiplier_moments(variants["dropout_layer"], p)
    check_multiplier_moments(variants["gaussian_noise_layer"], p)


def test_moment_check_rejects_wrong_gaussian_variance(variants):
    broken = load_chapter(VARIANTS, replace=("math.sqrt(p / (1 - p))", "p"))
    with pytest.raises(AssertionError):
        check_multiplier_moments(broken["gaussian_noise_layer"], 0.5)


def test_dropconnect_weight(variants):
    for seed in SEEDS:
        torch.manual_seed(seed)
        W = torch.rand(300, 400) + 0.5
        for p in (0.2, 0.5):
            D = variants["dropconnect_weight"](W, p)
            frac = float((D == 0).float().mean())
            assert abs(frac - p) < 0.01, f"fraction of dropped weights {frac:.4f}, expected {p}"
            kept = D != 0
            assert torch.allclose(D[kept], W[kept] / (1 - p))


@pytest.mark.parametrize("noise", ["dropout", "gaussian", "dropconnect"])
def test_net_is_deterministic_in_eval_mode(variants, noise):
    torch.manual_seed(0)
    net = variants["Net"](0.5, 0.5, noise)
    X = torch.rand(8, 784)
    net.eval()
    plain = net.lin3(torch.relu(net.lin2(torch.relu(net.lin1(X)))))
    assert torch.equal(net(X), net(X)) and torch.allclose(net(X), plain)
    net.train()
    assert not torch.allclose(net(X), plain), f"{noise}: training mode adds no noise"


def test_net_rejects_unknown_noise(variants):
    with pytest.raises(ValueError, match="noise must be"):
        variants["Net"](0.2, 0.5, "bernoulli")
