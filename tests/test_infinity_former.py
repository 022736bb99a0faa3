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


# ## The whole model against a slow reference
#
# One ∞-former step written from the paper's equations with its own loops and formulas: the
# short-term relative attention per head and query (own sinusoid table and causal range),
# the long-term read through its own Gaussian basis and closed form
# r_j = N(mu; c_j, sigma^2 + s_j^2), their *sum* joining the stream, and the long-term update
# as a ridge regression solved as augmented least squares at positions computed here.
# Segments of varying length make the update see several numbers of new vectors.

def _psi(t, centres, widths):
    return torch.exp(-0.5 * ((t[:, None] - centres) / widths) ** 2) / (widths * math.sqrt(2 * math.pi))


def _layer_norm(x, norm):
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + norm.eps) * norm.weight + norm.bias


def _sinusoid(distance, d):
    return torch.tensor([math.sin(distance / 10000 ** (2 * k / d)) for k in range(d // 2)] +
                        [math.cos(distance / 10000 ** (2 * k / d)) for k in range(d // 2)], dtype=torch.float64)


def slow_infinity(model, tokens, short, coefficients, centres, widths):
    d, H = model.d_model, model.layers[0].attention.heads
    dk = d // H
    x = model.embed.embed.weight[tokens].double() * math.sqrt(d)
    L = x.shape[0]
    inputs = []
    for n, layer in enumerate(model.layers):
        inputs.append(x)
        M = short[n].shape[0]
        read = _layer_norm(torch.cat([short[n], x]), layer.attention_residual.norm)
        h = read[M:]
        attn, lt = layer.attention, layer.long_term
        q, k, v = h @ attn.query.linear.weight.T, read @ attn.key.linear.weight.T, read @ attn.value.linear.weight.T
        ql = h @ lt.query.linear.weight.T
        kl = (coefficients[n] * lt.key_scale) @ lt.key.linear.weight.T
        vl = coefficients[n] @ lt.value.linear.weight.T
        short_heads, long_heads = [], []
        for hd in range(H):
            c = slice(hd * dk, (hd + 1) * dk)
            out_s, out_l = torch.zeros(L, dk, dtype=torch.float64), torch.zeros(L, dk, dtype=torch.float64)
            for i in range(L):
                scores = []
                for j in range(M + i + 1):
                    r = (_sinusoid(M + i - j, d) @ attn.key_pos.linear.weight.T)[c]
                    scores.append(((q[i, c] + model.u[hd]) @ k[j, c] + (q[i, c] + model.v[hd]) @ r) / math.sqrt(dk))
                w = torch.stack(scores).softmax(0)
                out_s[i] = sum(w[j] * v[j, c] for j in range(M + i + 1))
                s = kl[:, c] @ ql[i, c] / math.sqrt(dk)
                mu = torch.sigmoid(s @ lt.w_mu + lt.b_mu)
                var = torch.nn.functional.softplus(s @ lt.w_sigma + lt.b_sigma).clamp(min=lt.min_variance)
                total = var + widths ** 2
                rj = torch.exp(-0.5 * (mu - centres) ** 2 / total) / torch.sqrt(2 * math.pi * total)
                out_l[i] = rj @ vl[:, c]
            short_heads.append(out_s)
            long_heads.append(out_l)
        both = torch.cat(short_heads, -1) @ attn.output.weight.T + torch.cat(long_heads, -1) @ lt.output.weight.T
        x = x + both
        ff = layer.feed_forward
        y = _layer_norm(x, layer.feed_forward_residual.norm)
        x = x + torch.nn.functional.gelu(y @ ff.expand.weight.T + ff.expand.bias) @ ff.contract.weight.T + ff.contract.bias
    logits = _layer_norm(x, model.head.norm) @ model.head.project.weight.T + model.head.project.bias
    # The update: what leaves the short-term memory is refitted with M samples of the old signal.
    update = model.memory_update
    new_short, new_coefficients = [], []
    for n, layer in enumerate(model.layers):
        joined = torch.cat([short[n], inputs[n]])
        cut = max(0, joined.shape[0] - model.mem_len)
        new_short.append(joined[cut:])
        if cut == 0:
            new_coefficients.append(coefficients[n])
            continue
        leaving = _layer_norm(joined[:cut], layer.attention_residual.norm)
        S = update.n_samples
        tau = update.tau ** (cut / update.segment_len)
        times = (torch.arange(S, dtype=torch.float64) + 0.5) / S
        old = _psi(times, centres, widths) @ coefficients[n]
        positions = torch.cat([tau * times, tau + (1 - tau) * (torch.arange(cut, dtype=torch.float64) + 0.5) / cut])
        design = torch.cat([_psi(positions, centres, widths),
                            math.sqrt(update.ridge) * torch.eye(len(centres), dtype=torch.float64)])
        target = torch.cat([old, leaving, torch.zeros(len(centres), d, dtype=torch.float64)])
        new_coefficients.append(torch.linalg.lstsq(design, target).solution)
    return logits, new_short, new_coefficients


@pytest.fixture
def float64():
    # The reference and the model both in float64. (The update's fitting positions are float32
    # by design, which limits the agreement to about 1e-6 after a few updates.)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def test_model_equals_a_slow_reference_over_segments_of_several_lengths(float64):
    model = small_model(d_model=8, heads=2, n_layers=2, mem_len=2, n_basis=8, widths=(0.1, 0.2),
                        n_samples=6, segment_len=4, dropout=0.3)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    centres = torch.linspace(0, 1, 4, dtype=torch.float64).repeat(2)
    widths = torch.tensor([0.1, 0.2], dtype=torch.float64).repeat_interleave(4)
    stream = torch.randint(0, VOCAB, (1, 10))
    memory, short, coefficients = None, [torch.zeros(0, 8, dtype=torch.float64)] * 2, \
        [torch.zeros(8, 8, dtype=torch.float64)] * 2
    start = 0
    with torch.no_grad():
        for length in (3, 4, 1, 2):                   # the update sees 1, 4, 1 and 2 new vectors
            tokens = stream[:, start:start + length]
            start += length
            logits, memory, _ = model(tokens, memory)
            expected, short, coefficients = slow_infinity(model, tokens[0], short, coefficients, centres, widths)
            torch.testing.assert_close(logits[0], expected, atol=1e-5, rtol=1e-4)
            for n in range(2):
                torch.testing.assert_close(memory.short[n][0], short[n], atol=1e-5, rtol=1e-4)
                torch.testing.assert_close(memory.coefficients[n][0], coefficients[n], atol=1e-5, rtol=1e-4)
    assert len(model.last_densities) == 2 and model.last_densities[0][0].shape == (1, 2, 2)


def test_a_position_reads_nothing_after_it():
    # Causality through both readers: changing token t leaves every output before t unchanged.
    model = small_model()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    _, memory, _ = model(torch.randint(0, VOCAB, (1, 4)))
    _, memory, _ = model(torch.randint(0, VOCAB, (1, 4)), memory)
    tokens = torch.randint(0, VOCAB, (1, 4))
    base = model(tokens, memory)[0]
    for t in range(4):
        changed = tokens.clone()
        changed[0, t] = (changed[0, t] + 1) % VOCAB
        out = model(changed, memory)[0]
        torch.testing.assert_close(out[:, :t], base[:, :t])
        assert not torch.allclose(out[:, t:], base[:, t:])


def test_kl_loss_is_the_weighted_mean_over_layers_and_honours_mu_0():
    for mu_0 in (None, 0.3):
        model = small_model(kl_weight=0.01, mu_0=mu_0)
        _, _, losses = model(torch.randint(0, VOCAB, (2, 4)))
        per_layer = []
        for mu, var in model.last_densities:
            p = torch.distributions.Normal(mu, var.sqrt())
            centre = mu if mu_0 is None else torch.full_like(mu, mu_0)
            per_layer.append(torch.distributions.kl_divergence(p, torch.distributions.Normal(centre, 0.05)).mean())
        torch.testing.assert_close(losses['kl'], 0.01 * sum(per_layer) / 2)
    assert small_model(kl_weight=0.0)(torch.randint(0, VOCAB, (2, 4)))[2] == {}


def test_documented_defaults_and_settings_reaching_every_part():
    model = InfinityFormer(VOCAB)
    assert (model.d_model, model.n_layers, model.mem_len, model.basis.n_basis, model.sticky, model.bins,
            model.kl_weight, model.sigma_0, model.mu_0) == (128, 4, 64, 64, False, 64, 1e-4, 0.05, None)
    update = model.memory_update
    assert (update.tau, update.n_samples, update.ridge, update.segment_len, update.sticky) == (0.5, 128, 1.0, 64, False)
    assert model.basis.widths.unique().tolist() == pytest.approx([0.03, 0.08])
    layer = model.layers[0]
    assert layer.attention.heads == 4 and layer.feed_forward.expand.out_features == 512
    assert layer.long_term.min_variance == 1e-4 and model.last_densities == []
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.1}
    assert isinstance(model.head.norm, torch.nn.LayerNorm)
    custom = small_model(norm='post', activation='relu', attention_impl='explicit', dropout=0.2, sticky=True)
    assert isinstance(custom.head.norm, torch.nn.Identity) and custom.memory_update.sticky is True
    assert all(isinstance(l.feed_forward.activation, torch.nn.ReLU) and l.attention.impl == 'explicit'
               for l in custom.layers)
    assert {m.p for m in custom.modules() if isinstance(m, torch.nn.Dropout)} == {0.2}
    # The basis is fixed and rebuilt from the settings: it is not part of a checkpoint.
    assert not any('centres' in k or 'widths' in k or 'g_segment' in k or 'uniform_times' in k
                   for k in model.state_dict())


def test_long_term_reader_starts_as_documented():
    reader = small_model(sigma_0=0.07).layers[0].long_term
    bound = 16 ** -0.5
    for w in (reader.w_mu, reader.w_sigma):
        assert w.abs().max() <= bound and w.min() < 0 < w.max() and w.abs().max() > bound / 4
    assert reader.b_mu.item() == 0.0
    assert torch.nn.functional.softplus(reader.b_sigma).item() == pytest.approx(0.07 ** 2, rel=1e-5)


def test_continuous_attention_defaults_and_batched_fits():
    basis = GaussianBasis(6, (0.1, 0.2))
    q, k, v = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 6, 4), torch.randn(1, 1, 6, 4)
    w_mu, w_sigma = torch.randn(6), torch.randn(6) - 3
    _, mu, var = continuous_attention(q, k, v, w_mu, w_sigma, basis)
    s = q @ k.transpose(-2, -1) / 2.0
    torch.testing.assert_close(mu, torch.sigmoid(s @ w_mu))
    torch.testing.assert_close(var, torch.nn.functional.softplus(s @ w_sigma).clamp(min=1e-4))
    # A batch of fitting matrices, one per stream.
    g, x = torch.randn(2, 5, 6), torch.randn(2, 5, 3)
    torch.testing.assert_close(fit(g, x), torch.stack([g[b].T @ x[b] for b in range(2)]))


def test_sampling_uses_its_generator_and_jitters_only_when_stochastic():
    histogram = attention_histogram(torch.rand(2, 3), torch.full((2, 3), 0.01), 10)
    a = sample_times(histogram, 20, True, torch.Generator().manual_seed(1))
    b = sample_times(histogram, 20, True, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, sample_times(histogram, 20, True, torch.Generator().manual_seed(2)))
    assert not torch.allclose(a, sample_times(histogram, 20, False))


@pytest.mark.parametrize("kw,message", [
    (dict(mem_len=-1), r"mem_len must be a non-negative integer, got -1"),
    (dict(mem_len=2.5), r"mem_len must be a non-negative integer, got 2.5"),
    (dict(bins=0), r"bins must be a positive integer, got 0"),
    (dict(segment_len=0), r"segment_len must be a positive integer, got 0"),
    (dict(sigma_0=0.0), r"sigma_0 and min_variance must be positive, got 0.0, 0.0001"),
    (dict(min_variance=0.0), r"sigma_0 and min_variance must be positive, got 0.05, 0.0"),
    (dict(kl_weight=-1.0), r"kl_weight must be >= 0, got -1.0"),
    (dict(d_model=9, heads=3), r"d_model must be even for the sinusoid table, got 9"),
    (dict(n_basis=2, widths=(0.1, 0.2)), r"at least two functions per width; e.g. \[16, 32, 64\]"),
    (dict(widths=(0.0,)), r"positive numbers, got \[0.0\]"),
])
def test_more_invalid_settings_fail_clearly(kw, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kw)


def test_edge_settings_that_are_valid():
    for kw in (dict(mem_len=0), dict(bins=1), dict(n_samples=1), dict(mu_0=0.0), dict(mu_0=1.0),
               dict(n_basis=4, widths=(0.1, 0.2)), dict(n_layers=1)):
        model = small_model(**kw)
        _, memory, _ = model(torch.randint(0, VOCAB, (1, 4)))
        model(torch.randint(0, VOCAB, (1, 4)), memory)
    with pytest.raises(ValueError, match=r"ridge penalty lambda must be positive, got 0.0"):
        ridge_matrix(GaussianBasis(4, (0.1,)), torch.linspace(0, 1, 5), 0.0)


def test_a_memory_that_does_not_fit_is_refused_by_name():
    model = small_model()
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)))
    with pytest.raises(ValueError, match=r"expected an InfinityMemory with 2 layers"):
        model(torch.randint(0, VOCAB, (2, 4)), InfinityMemory(memory.short, memory.coefficients[:1]))
    with pytest.raises(ValueError, match=r"expected an InfinityMemory with 2 layers"):
        model(torch.randint(0, VOCAB, (2, 4)), InfinityMemory(memory.short[:1], memory.coefficients))
    wrong = InfinityMemory(memory.short, [c[:, :8] for c in memory.coefficients])
    with pytest.raises(ValueError, match=r"do not fit a batch of 2, d_model=16, n_basis=16"):
        model(torch.randint(0, VOCAB, (2, 4)), wrong)
    wrong = InfinityMemory([s[:, :, :8] for s in memory.short], memory.coefficients)
    with pytest.raises(ValueError, match=r"do not fit a batch of 2"):
        model(torch.randint(0, VOCAB, (2, 4)), wrong)
    # An explicit empty memory reads exactly like no memory at all.
    tokens = torch.randint(0, VOCAB, (2, 4))
    empty = InfinityMemory([torch.zeros(2, 0, 16)] * 2, [torch.zeros(2, 16, 16)] * 2)
    torch.testing.assert_close(model(tokens, empty)[0], model(tokens)[0])
