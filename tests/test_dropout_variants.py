"""The code of dropout/06_variants, as the reader sees it: the backward pass by hand and the noise layers.

regcourse.chapters.dropout_variants is generated from the notebook's code cells tagged ``chapter-code``. Each
property is checked in float64 where it is an identity, and as a band that holds across seeds where it is a
statistic. The ``*_rejects_*`` tests run the same checks on broken variants of the chapter code (made by
editing its source text with ``regcourse.chapters.edited``) and expect them to fail.
"""
import pytest
import torch

from regcourse.chapters import dropout_variants, edited

SEEDS = range(5)


@pytest.fixture(scope="module")
def variants():
    return dropout_variants


# ---------------------------------------------------------------------------------------------------------
# The dropout backward pass, by hand.

def check_backward(ns, p=0.4):
    for seed in SEEDS:
        gen = torch.Generator().manual_seed(seed)
        X = torch.randn(3, 5, dtype=torch.float64, generator=gen)
        G = torch.randn(3, 5, dtype=torch.float64, generator=gen)
        out, cache = ns.dropout_forward(X, p, generator=gen)
        mask = cache[0]
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        assert torch.allclose(out, X * mask / (1 - p), rtol=1e-12, atol=0)
        grad = ns.dropout_backward(G, cache)
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
    broken = edited(dropout_variants, "return dout * mask / (1 - p)", "return dout * mask")
    with pytest.raises(AssertionError):
        check_backward(broken)


def test_backward_check_rejects_fresh_mask(variants):
    broken = edited(dropout_variants, "return dout * mask / (1 - p)",
                                             "return dout * (torch.rand_like(dout) >= p).to(dout.dtype) / (1 - p)")
    with pytest.raises(AssertionError):
        check_backward(broken)


def test_forward_rejects_bad_p(variants):
    with pytest.raises(ValueError, match="drop probability"):
        variants.dropout_forward(torch.ones(2, 2), 1.0)


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
    check_multiplier_moments(variants.dropout_layer, p)
    check_multiplier_moments(variants.gaussian_noise_layer, p)


def test_moment_check_rejects_wrong_gaussian_variance(variants):
    broken = edited(dropout_variants, "math.sqrt(p / (1 - p))", "p")
    with pytest.raises(AssertionError):
        check_multiplier_moments(broken.gaussian_noise_layer, 0.5)


def test_dropconnect_weight(variants):
    for seed in SEEDS:
        torch.manual_seed(seed)
        W = torch.rand(300, 400) + 0.5
        for p in (0.2, 0.5):
            D = variants.dropconnect_weight(W, p)
            frac = float((D == 0).float().mean())
            assert abs(frac - p) < 0.01, f"fraction of dropped weights {frac:.4f}, expected {p}"
            kept = D != 0
            assert torch.allclose(D[kept], W[kept] / (1 - p))


@pytest.mark.parametrize("noise", ["dropout", "gaussian", "dropconnect"])
def test_net_is_deterministic_in_eval_mode(variants, noise):
    torch.manual_seed(0)
    net = variants.Net(0.5, 0.5, noise)
    X = torch.rand(8, 784)
    net.eval()
    plain = net.lin3(torch.relu(net.lin2(torch.relu(net.lin1(X)))))
    assert torch.equal(net(X), net(X)) and torch.allclose(net(X), plain)
    net.train()
    assert not torch.allclose(net(X), plain), f"{noise}: training mode adds no noise"


def test_net_rejects_unknown_noise(variants):
    with pytest.raises(ValueError, match="noise must be"):
        variants.Net(0.2, 0.5, "bernoulli")
