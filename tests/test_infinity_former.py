"""The ∞-former against independent computations: least squares, quadrature, gradcheck, KL."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labml_memory.infinity_former import InfinityFormer, InfinityMemory, UnboundedMemory
from labml_memory.infinity_former.continuous import (GaussianBasis, attention_histogram,
                                                     continuous_attention, evaluate,
                                                     expected_basis, fit, kl_to_prior,
                                                     ridge_matrix, sample_times)
from labml_memory.infinity_former.experiment import PRESETS, Config, build_model
from labml_memory.training.config import build_config

VOCAB = 11


def small_model(**kw):
    args = dict(d_model=16, heads=2, n_layers=2, d_ff=32, mem_len=4, n_basis=16,
                widths=(0.05, 0.1), n_samples=24, segment_len=4, bins=16, dropout=0.0)
    args.update(kw)
    return InfinityFormer(VOCAB, **args).eval()


def smooth_signal(t):
    # Three channels of slowly varying curves on [0, 1].
    return torch.stack([torch.sin(2 * math.pi * t), torch.cos(3 * t), t * t - 0.5], dim=-1)


def test_ridge_fit_reconstructs_a_smooth_signal_and_equals_least_squares():
    basis = GaussianBasis(64, (0.02, 0.05))
    t = torch.linspace(0, 1, 200, dtype=torch.float64)
    x = smooth_signal(t)
    ridge = 0.1
    b = fit(ridge_matrix(basis, t, ridge), x[None])[0]           # [N, 3]
    # Reconstruction inside the interval, away from the edges the ridge term pulls down.
    inner = (t > 0.05) & (t < 0.95)
    err = (evaluate(basis, b[None], t)[0] - x)[inner].abs().max()
    assert err < 0.02
    # The same problem as one augmented least-squares system: [F^T; sqrt(lambda) I] B = [X; 0].
    f_t = basis(t)                                                # [L, N]
    a = torch.cat([f_t, math.sqrt(ridge) * torch.eye(64, dtype=torch.float64)])
    rhs = torch.cat([x, torch.zeros(64, 3, dtype=torch.float64)])
    direct = torch.linalg.lstsq(a, rhs).solution
    torch.testing.assert_close(b, direct, atol=1e-8, rtol=1e-6)


def test_closed_form_expectation_equals_quadrature():
    basis = GaussianBasis(8, (0.03, 0.1))
    mu = torch.tensor([0.2, 0.5, 0.93, 0.05], dtype=torch.float64)
    var = torch.tensor([0.01, 0.0004, 0.02, 0.1], dtype=torch.float64)
    closed = expected_basis(mu, var, basis)                        # [4, N]
    t = torch.linspace(-3, 4, 400_001, dtype=torch.float64)
    density = torch.exp(-0.5 * (t[None] - mu[:, None]) ** 2 / var[:, None]) / torch.sqrt(2 * math.pi * var[:, None])
    integrand = density[:, :, None] * basis(t)[None]               # [4, T, N]
    quadrature = torch.trapezoid(integrand, t, dim=1)
    torch.testing.assert_close(closed, quadrature, atol=1e-7, rtol=1e-6)


def test_gradcheck_continuous_attention_float64():
    basis = GaussianBasis(6, (0.1, 0.2))
    dt = dict(dtype=torch.float64, requires_grad=True)
    q, k, v = torch.randn(1, 2, 3, 4, **dt), torch.randn(1, 2, 6, 4, **dt), torch.randn(1, 2, 6, 4, **dt)
    w_mu, w_sigma = torch.randn(6, **dt), torch.randn(6, **dt)
    b_mu, b_sigma = torch.tensor(0.1, **dt), torch.tensor(-1.0, **dt)

    def read(q, k, v, w_mu, w_sigma, b_mu, b_sigma):
        return continuous_attention(q, k, v, w_mu, w_sigma, basis, 1e-9, b_mu, b_sigma)

    assert torch.autograd.gradcheck(read, (q, k, v, w_mu, w_sigma, b_mu, b_sigma), eps=1e-6, atol=1e-5)


def test_continuous_attention_is_the_expected_projected_signal():
    # V^T r must equal the expectation of the value-projected signal under N(mu, var),
    # computed by quadrature over t from the coefficients directly.
    basis = GaussianBasis(8, (0.05, 0.1))
    b = torch.randn(1, 8, 4, dtype=torch.float64)                   # coefficients, e = 4
    q = torch.randn(1, 1, 2, 4, dtype=torch.float64)
    w_mu, w_sigma = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    out, mu, var = continuous_attention(q, b[:, None], b[:, None], w_mu, w_sigma, basis)
    t = torch.linspace(-3, 4, 200_001, dtype=torch.float64)
    signal = evaluate(basis, b, t)[0]                               # [T, 4]
    for i in range(2):
        m, s2 = mu[0, 0, i], var[0, 0, i]
        p = torch.exp(-0.5 * (t - m) ** 2 / s2) / torch.sqrt(2 * math.pi * s2)
        expected = torch.trapezoid(p[:, None] * signal, t, dim=0)
        torch.testing.assert_close(out[0, 0, i], expected, atol=1e-6, rtol=1e-5)


def test_kl_matches_torch_distributions():
    mu, var = torch.rand(5, dtype=torch.float64), torch.rand(5, dtype=torch.float64) * 0.1 + 1e-3
    p = torch.distributions.Normal(mu, var.sqrt())
    prior = torch.distributions.Normal(torch.full_like(mu, 0.3), torch.full_like(mu, 0.05))
    expected = torch.distributions.kl_divergence(p, prior).mean()
    torch.testing.assert_close(kl_to_prior(mu, var, 0.05, 0.3), expected)
    # mu_0=None: the prior sits on each density's own mean, so only the width counts.
    own = torch.distributions.Normal(mu, torch.full_like(mu, 0.05))
    torch.testing.assert_close(kl_to_prior(mu, var, 0.05, None),
                               torch.distributions.kl_divergence(p, own).mean())


def test_update_contracts_the_old_signal_into_tau_and_places_new_vectors_after_it():
    basis = GaussianBasis(64, (0.02, 0.05))
    tau, L = 0.5, 32
    memory = UnboundedMemory(basis, tau=tau, n_samples=128, ridge=0.01, segment_len=L, sticky=False)
    t = torch.linspace(0, 1, 128)
    old = fit(ridge_matrix(basis, t, 0.01), smooth_signal(t)[None])
    # L distinct new vectors, a smooth curve per channel that starts where the old signal
    # ends (a jump at tau would ring on both sides of it), so their order is visible.
    step = torch.linspace(0, 1, L)
    new = torch.stack([0.8 * torch.sin(math.pi * step), -1 + 1.5 * step, 0.5 - step], dim=-1)[None]
    updated = memory(old, new)
    # Old content now lives at tau * t; new content on [tau, 1], vector i at the midpoint of
    # the i-th of L equal cells, first to last.
    s = torch.linspace(0.1, 0.9, 50)
    torch.testing.assert_close(evaluate(basis, updated, tau * s)[0], evaluate(basis, old, s)[0],
                               atol=0.06, rtol=0)
    placed = tau + (1 - tau) * (torch.arange(L) + 0.5) / L
    inner = slice(2, L - 2)                # away from the right edge the ridge pulls down
    torch.testing.assert_close(evaluate(basis, updated, placed)[0, inner], new[0, inner], atol=0.06, rtol=0)
    # Reversed, the new vectors would be read back wrong by far more than that.
    assert (evaluate(basis, updated, placed)[0, inner] - new[0].flip(0)[inner]).abs().max() > 0.5


def test_memory_size_is_the_same_after_1_and_1000_updates():
    # A thousand segments through the whole model (sticky sampling on, evaluation mode):
    # every call reads the signal, contracts it and refits it with the new segment.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = small_model(n_layers=1, d_model=8, heads=1, d_ff=8, sticky=True)
        tokens = torch.randint(0, VOCAB, (2, 4 * 1001))
        with torch.no_grad():
            _, memory, _ = model(tokens[:, :4])
            _, memory, _ = model(tokens[:, 4:8], memory)           # update 1
            after_one, first = memory.nbytes(), memory.coefficients[0].clone()
            for s in range(2, 1001):                               # updates 2 ... 1,000
                _, memory, _ = model(tokens[:, 4 * s:4 * (s + 1)], memory)
    finally:
        torch.set_num_threads(before)
    assert memory.nbytes() == after_one == 2 * (4 * 8 + 16 * 8) * 4
    assert [tuple(c.shape) for c in memory.coefficients] == [(2, 16, 8)]
    assert torch.isfinite(memory.coefficients[0]).all()
    assert not torch.allclose(memory.coefficients[0], first)
    # A refit of bounded inputs stays bounded: the contraction does not blow the signal up.
    assert memory.coefficients[0].abs().max() < 10


def _bin_counts(times, bins):
    # Which bin each time falls in, counted per stream; a time on an edge belongs to the bin
    # it closes only at t = 1.
    index = (times * bins).floor().clamp(max=bins - 1).long()
    return torch.stack([torch.bincount(row, minlength=bins) for row in index]).double()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2 ** 31 - 1), bins=st.integers(2, 40), n_samples=st.integers(1, 300),
       stochastic=st.booleans())
def test_stratified_sampling_puts_within_two_of_the_expected_count_in_every_bin(
        seed, bins, n_samples, stochastic):
    # The bound, derived: quantile u_m lies in stratum [m/M, (m+1)/M). Bin b covers the
    # quantiles [C_{b-1}, C_b), an interval of M p_b strata's length; it overlaps at most
    # ceil(M p_b) + 1 strata and contains at least floor(M p_b) - 1 whole ones, so its count
    # differs from M p_b by less than 2. (With the midpoints of evaluation, by at most 1.)
    # The same holds for any run of consecutive bins, which is what keeps the times sorted
    # and the mass where the histogram put it.
    gen = torch.Generator().manual_seed(seed)
    mu = torch.rand(2, 3, 5, generator=gen, dtype=torch.float64)
    var = (0.002 + 0.1 * torch.rand(2, 3, 5, generator=gen, dtype=torch.float64)) ** 2
    histogram = attention_histogram(mu, var, bins)
    times = sample_times(histogram, n_samples, stochastic=stochastic, generator=gen)
    assert ((times >= 0) & (times <= 1)).all() and (times[:, 1:] >= times[:, :-1]).all()
    expected = n_samples * histogram
    counts = _bin_counts(times, bins)
    bound = 2.0 if stochastic else 1.0
    assert (counts - expected).abs().max() < bound + 1e-6
    runs = counts.cumsum(-1) - expected.cumsum(-1)         # every prefix of bins
    assert runs.abs().max() < bound + 1e-6
    if not stochastic:
        # Midpoint quantiles u_m = (m + 1/2) / M through the histogram's piecewise-linear
        # inverse CDF, written as a walk over the bins.
        for row in range(2):
            p = histogram[row].tolist()
            for m in range(n_samples):
                u, below, b = (m + 0.5) / n_samples, 0.0, 0
                while b < bins - 1 and below + p[b] < u:
                    below, b = below + p[b], b + 1
                expected_t = (b + min(1.0, max(0.0, (u - below) / p[b]))) / bins
                assert times[row, m].item() == pytest.approx(expected_t, abs=1e-9)


def test_sticky_sampling_follows_the_attention_mass():
    # Densities that all sit around t = 0.3: the histogram's mass is there.
    mu = 0.3 + 0.02 * torch.randn(2, 3, 10)
    var = torch.full_like(mu, 0.03 ** 2)
    histogram = attention_histogram(mu, var, bins=20)
    times = sample_times(histogram, n_samples=200, stochastic=True)
    near = ((times > 0.2) & (times < 0.4)).float().mean()
    assert near > 0.9                  # uniform sampling would put 20% there
    assert (times[:, 1:] >= times[:, :-1]).all()
    uniform = sample_times(torch.full((1, 20), 1 / 20), 200, stochastic=False)
    torch.testing.assert_close(uniform[0], (torch.arange(200) + 0.5) / 200)


def test_sticky_update_keeps_the_attended_region_sharper():
    # A wiggly old signal, attended only around t = 0.7: after one update, that region
    # survives contraction better with sticky sampling than with uniform sampling.
    basis = GaussianBasis(64, (0.02, 0.05))
    t = torch.linspace(0, 1, 400)
    wiggly = torch.sin(40 * t)[:, None]
    old = fit(ridge_matrix(basis, t, 0.01), wiggly[None])
    hist = attention_histogram(torch.full((1, 8), 0.7), torch.full((1, 8), 0.05 ** 2), bins=64)
    errors = {}
    for sticky in (False, True):
        update = UnboundedMemory(basis, tau=0.5, n_samples=32, ridge=0.01, segment_len=8, sticky=sticky).eval()
        new = update(old, torch.zeros(1, 8, 1), hist)
        # Where t = 0.7 ended up: sticky positions are a monotone map, recover it from the samples.
        times = sample_times(hist, 32, stochastic=False)[0] if sticky else (torch.arange(32) + 0.5) / 32
        placed = 0.5 * (torch.arange(32) + 0.5) / 32
        region = (times > 0.65) & (times < 0.75)
        recon = evaluate(basis, new, placed[region])[0]
        errors[sticky] = (recon - evaluate(basis, old, times[region])[0]).abs().mean()
    assert errors[True] < 0.5 * errors[False]


def test_empty_memory_reads_zero_and_no_gradient_reaches_the_memory():
    model = small_model().train()
    layer = model.layers[0]
    h = torch.randn(2, 4, 16)
    read, _, _ = layer.long_term(h, torch.zeros(2, 16, 16), model.basis)
    assert read.abs().max() == 0
    seg1, seg2, seg3 = torch.randint(0, VOCAB, (3, 2, 4))
    _, memory, _ = model(seg1)
    _, memory, _ = model(seg2, memory)
    assert all(not t.requires_grad for t in memory.tensors())
    assert memory.coefficients[0].abs().max() > 0
    logits, _, losses = model(seg3, memory)
    (logits.sum() + losses['kl']).backward()
    assert layer.long_term.w_mu.grad is not None and layer.long_term.w_mu.grad.abs().sum() > 0


def test_one_token_updates_contract_like_one_segment():
    # tau' = tau ** (n / L): L one-vector updates shrink old content by tau overall.
    memory = UnboundedMemory(GaussianBasis(8, (0.1,)), tau=0.5, n_samples=4, ridge=1.0,
                             segment_len=4, sticky=False)
    assert memory.positions(4)[4].item() == pytest.approx(0.5 + 0.5 * 0.5 / 4)
    assert memory.positions(1)[3].item() == pytest.approx(0.5 ** 0.25 * 3.5 / 4)


@pytest.mark.parametrize("kw,message", [
    (dict(tau=1.0), r"tau must lie strictly between 0 and 1.*got 1.0"),
    (dict(tau=0.0), r"tau must lie strictly between 0 and 1.*got 0.0"),
    (dict(n_basis=15), r"n_basis=15 must be a multiple of the number of widths \(2\)"),
    (dict(n_basis=0), r"n_basis=0 must be a multiple"),
    (dict(widths=(0.05, -0.1)), r"basis widths must be a non-empty list of positive numbers, got \[0.05, -0.1\]"),
    (dict(widths=()), r"basis widths must be a non-empty list"),
    (dict(ridge=0.0), r"ridge penalty lambda must be positive, got 0.0"),
    (dict(n_samples=0), r"n_samples must be a positive integer, got 0"),
    (dict(mu_0=2.0), r"mu_0 must be None .* or lie in \[0, 1\], got 2.0"),
])
def test_invalid_settings_fail_clearly(kw, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kw)


def test_memory_from_another_model_is_rejected():
    _, memory, _ = small_model()(torch.randint(0, VOCAB, (2, 4)))
    with pytest.raises(ValueError, match="do not fit a batch of 3"):
        small_model()(torch.randint(0, VOCAB, (3, 4)), memory)


def test_experiment_config_builds_the_model():
    config = build_config(Config, PRESETS, {'widths': '0.02,0.05', 'n_basis': '32', 'sticky': 'true'})
    model = build_model(config, VOCAB)
    assert model.basis.widths.unique().tolist() == pytest.approx([0.02, 0.05])
    assert model.sticky and model.basis.n_basis == 32
    assert build_config(Config, PRESETS, {'preset': 'gpu'}).n_basis == 512


def test_long_term_read_equals_an_independent_quadrature():
    # The layer's long-term reader, every parameter (b_mu, b_sigma, w_mu, w_sigma, the
    # projections) moved, against the paper's definition computed here: scores per basis row
    # and head by loops, mu = sigmoid(w_mu . s + b_mu), var = softplus(w_sigma . s + b_sigma)
    # floored, and the output the integral over t of N(t; mu, var) times the value-projected
    # signal V^T psi(t), by the trapezoid rule.
    model = small_model(d_model=8, heads=2, n_basis=8, widths=(0.1, 0.2)).double()
    reader = model.layers[0].long_term
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in reader.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    h = torch.randn(1, 3, 8, dtype=torch.float64)
    coefficients = torch.randn(1, 8, 8, dtype=torch.float64)
    out, mu, var = reader(h, coefficients, model.basis)
    t = torch.linspace(-3, 4, 100_001, dtype=torch.float64)
    psi = model.basis(t)                                            # [T, N]
    wq, wk, wv = (p.linear.weight for p in (reader.query, reader.key, reader.value))
    # The key scale is the basis summed over its functions and averaged over [0, 1].
    grid = torch.linspace(0, 1, 1001, dtype=torch.float64)
    centres = [c for _ in (0.1, 0.2) for c in torch.linspace(0, 1, 4).tolist()]
    widths = [w for w in (0.1, 0.2) for _ in range(4)]
    mass = sum(torch.exp(-0.5 * ((grid - c) / w) ** 2) / (w * math.sqrt(2 * math.pi))
               for c, w in zip(centres, widths)).mean()
    assert reader.key_scale == pytest.approx(mass.item(), rel=1e-5)
    for i in range(3):
        heads = []
        for hd in range(2):
            cols = slice(4 * hd, 4 * hd + 4)
            q = h[0, i] @ wq[cols].T
            keys = (coefficients[0] * reader.key_scale) @ wk[cols].T   # [N, 4]
            s = torch.stack([q @ keys[j] for j in range(8)]) / 2.0     # / sqrt(d_k)
            m = torch.sigmoid(s @ reader.w_mu + reader.b_mu)
            v2 = torch.nn.functional.softplus(s @ reader.w_sigma + reader.b_sigma).clamp(min=reader.min_variance)
            assert mu[0, hd, i].item() == pytest.approx(m.item(), rel=1e-9)
            assert var[0, hd, i].item() == pytest.approx(v2.item(), rel=1e-9)
            density = torch.exp(-0.5 * (t - m) ** 2 / v2) / torch.sqrt(2 * math.pi * v2)
            signal = psi @ (coefficients[0] @ wv[cols].T)               # [T, 4]
            heads.append(torch.trapezoid(density[:, None] * signal, t, dim=0))
        expected = torch.cat(heads) @ reader.output.weight.T
        torch.testing.assert_close(out[0, i], expected, atol=1e-6, rtol=1e-5)
