r"""
# Continuous attention: basis functions, the ridge fit, and a Gaussian over time

The ∞-former's long-term memory is not a list of vectors but a *function of time*. Whatever
the model has read is squeezed onto the interval $t \in [0, 1]$ (the oldest text near $0$,
the newest near $1$) and described by a signal

$$\bar X(t) = B^\top \psi(t), \qquad \psi(t) \in \mathbb{R}^J, \quad B \in \mathbb{R}^{J \times d},$$

a weighted sum of $J$ fixed bumps $\psi_j$. Only the coefficients $B$ are stored, so the
memory costs $J \times d$ numbers however much text went into it. This page holds the three
pieces of mathematics the [model](__init__.py) builds on:

1. the **basis** $\psi$: Gaussian bumps of a few widths, spread evenly over $[0, 1]$;
2. the **ridge fit** that turns $L$ vectors placed at times $t_1 \dots t_L$ into $B$;
3. **continuous attention**: a query does not weigh $J$ keys with a softmax, it picks a
   Gaussian $\mathcal{N}(t; \mu, \sigma^2)$ over time and reads the expected value of the
   signal under it. Because the bumps are Gaussians too, that expectation has a closed form.

It also holds the small helpers for *sticky memories*: how much of each Gaussian falls in
each bin of $[0, 1]$, and how to draw sample times from that histogram.

Paper: [∞-former: Infinite Memory Transformer](https://arxiv.org/abs/2109.00301)
(Martins, Marinho, Martins; ACL 2022), sections 3.1 and 3.2.
"""

import math
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

# $\sqrt{2\pi}$, the normaliser of every Gaussian density below.
SQRT_2PI = math.sqrt(2.0 * math.pi)


# ## The basis functions
#
# $\psi_j(t) = \mathcal{N}(t; \mu_j, \sigma_j^2)$, a Gaussian density with centre $\mu_j$ and
# width $\sigma_j$. The paper's code uses two widths and gives each half of the functions, with the
# centres of each half spread evenly over $[0, 1]$; narrow bumps carry detail, wide ones fill
# the gaps between centres so the fit never has holes. We accept any number of widths and
# split $J$ evenly between them, so $J$ must be a multiple of the number of widths.
#
# The widths should be comparable to the spacing of the centres, $1 / (J / \#\text{widths} - 1)$:
# much narrower and the signal is zero between centres, much wider and neighbouring
# functions become nearly identical and the fit ill-conditioned (the ridge term then does
# all the work). The paper pairs $J = 512$ with widths $0.01$ and $0.05$; our CPU preset
# uses $J = 64$ and so scales the widths up.
class GaussianBasis(nn.Module):
    def __init__(self, n_basis: int, widths: Sequence[float]):
        super().__init__()
        widths = [float(w) for w in widths]
        if not widths or any(not (w > 0.0) or math.isinf(w) for w in widths):
            raise ValueError(f"basis widths must be a non-empty list of positive numbers, got {widths}")
        if not isinstance(n_basis, int) or n_basis < 2 * len(widths) or n_basis % len(widths) != 0:
            raise ValueError(f"n_basis={n_basis!r} must be a multiple of the number of widths "
                             f"({len(widths)}) with at least two functions per width; "
                             f"e.g. {[2 * len(widths) * k for k in (4, 8, 16)]}")
        per_width = n_basis // len(widths)
        # Every width gets the same evenly spaced centres. `[J]` each.
        centres = torch.linspace(0.0, 1.0, per_width).repeat(len(widths))
        scales = torch.tensor(widths).repeat_interleave(per_width)
        # Buffers, not parameters: the basis is fixed, and buffers follow the model's device.
        self.register_buffer('centres', centres, persistent=False)
        self.register_buffer('widths', scales, persistent=False)
        self.n_basis = n_basis

    def mass(self) -> float:
        r"""
        $\overline{\sum_j \psi_j(t)}$, the basis summed and averaged over $[0, 1]$. A fitted
        coefficient row is roughly the signal's value near its centre divided by this number.
        """
        return self(torch.linspace(0.0, 1.0, 1001)).sum(-1).mean().item()

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        r"""$\psi(t)$ for every time in `t` (any shape `[...]`): `[..., J]`."""
        c, s = self.centres.to(t.dtype), self.widths.to(t.dtype)
        z = (t[..., None] - c) / s
        return torch.exp(-0.5 * z * z) / (s * SQRT_2PI)


# ## The ridge fit
#
# Given $L$ vectors $X \in \mathbb{R}^{L \times d}$ placed at times $t_1, \dots, t_L$, the
# coefficients are the multivariate ridge regression
#
# $$B = \arg\min_B \|F^\top B - X\|_F^2 + \lambda \|B\|_F^2, \qquad
#   F = [\psi(t_1), \dots, \psi(t_L)] \in \mathbb{R}^{J \times L},$$
#
# whose solution the paper writes as $B^\top = X^\top F^\top (F F^\top + \lambda I)^{-1}$.
# Everything except $X$ depends only on the positions, so
# $G = F^\top (F F^\top + \lambda I)^{-1} \in \mathbb{R}^{L \times J}$ is computed once per
# layout of positions, and each fit is then a single matrix product $B = G^\top X$, however
# many streams and channels there are. The ridge term $\lambda$ keeps $F F^\top$ invertible
# when there are fewer points than functions, and keeps $B$ small when bumps overlap.
#
# We solve the $J \times J$ system in float64 (a Cholesky solve, since
# $F F^\top + \lambda I$ is symmetric positive definite) and return $G$ in the basis's
# dtype: the narrow bumps make $F F^\top$ span several orders of magnitude.
def ridge_matrix(basis: GaussianBasis, positions: torch.Tensor, ridge: float) -> torch.Tensor:
    if not ridge > 0.0:
        raise ValueError(f"the ridge penalty lambda must be positive, got {ridge}")
    # $F$, `[J, L]`
    f = basis(positions.double()).T
    gram = f @ f.T + ridge * torch.eye(basis.n_basis, dtype=torch.float64, device=f.device)
    # $G^\top = (F F^\top + \lambda I)^{-1} F$, `[J, L]`; transpose to $G$, `[L, J]`.
    g_t = torch.cholesky_solve(f, torch.linalg.cholesky(gram))
    return g_t.T.to(positions.dtype)


def fit(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""
    $B = G^\top X$: `g` is `[L, J]` (or `[batch, L, J]`), `x` is `[batch, L, d]`;
    the coefficients are `[batch, J, d]`.
    """
    return g.transpose(-2, -1) @ x


def evaluate(basis: GaussianBasis, coefficients: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    r"""
    The signal at given times, $\bar X(t) = B^\top \psi(t)$: `coefficients` `[batch, J, d]`,
    `t` `[T]` or `[batch, T]`; the result is `[batch, T, d]`.
    """
    return basis(t) @ coefficients


# ## The expectation of each basis function under a Gaussian
#
# Continuous attention reads the signal through a density $\mathcal{N}(t; \mu, \sigma^2)$ over time:
#
# $$\mathbb{E}_{t \sim \mathcal{N}(\mu, \sigma^2)}[\bar X(t)] = B^\top\, \mathbb{E}_{t \sim \mathcal{N}(\mu, \sigma^2)}[\psi(t)] = B^\top r,
#   \qquad r_j = \int \mathcal{N}(t; \mu, \sigma^2)\, \mathcal{N}(t; \mu_j, \sigma_j^2)\, dt.$$
#
# The integral of a product of two Gaussian densities is itself a Gaussian density, evaluated
# at the difference of the means with the variances added:
#
# $$r_j = \mathcal{N}(\mu; \mu_j, \sigma^2 + \sigma_j^2).$$
#
# No numerical integration, no grid over $t$: one exponential per query and basis function.
# The integral runs over the whole real line, not just $[0, 1]$; the paper does the same,
# and the mass a density puts outside the interval just reads the tails of the edge bumps.
# The tests compare this with numerical quadrature.
def expected_basis(mu: torch.Tensor, variance: torch.Tensor, basis: GaussianBasis) -> torch.Tensor:
    r"""$r$ for densities with means `mu` and variances `variance` (both `[...]`): `[..., J]`."""
    c, s = basis.centres.to(mu.dtype), basis.widths.to(mu.dtype)
    total = variance[..., None] + s * s
    diff = mu[..., None] - c
    return torch.exp(-0.5 * diff * diff / total) / torch.sqrt(total * (2.0 * math.pi))


# ## Continuous attention, functional core
#
# For one head with query $q$, keys $K = B W_K$ and values $V = B W_V$ (one row per basis
# function, so $J$ of each):
#
# $$s = \frac{K q}{\sqrt{d_k}}, \qquad \mu = \mathrm{sigmoid}(w_\mu^\top s), \qquad
#   \sigma^2 = \mathrm{softplus}(w_\sigma^\top s), \qquad \text{output} = V^\top r(\mu, \sigma^2).$$
#
# The scores do not become a softmax over the $J$ rows; they are *read* by two linear maps
# into the two numbers that place a Gaussian on the time axis. The sigmoid keeps $\mu$ inside
# $[0, 1]$; softplus keeps $\sigma^2$ positive, and a floor (`min_variance`) stops a density
# from collapsing into a spike whose expectation would only see one bump's peak.
# $w_\mu$ and $w_\sigma$ (`[J]`) are shared by the heads; the paper has no biases, we allow
# a scalar bias on each (the model uses it to start every density at the prior's width).
#
# This function is pure tensor arithmetic so that the tests can `gradcheck` it in float64.
def continuous_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         w_mu: torch.Tensor, w_sigma: torch.Tensor, basis: GaussianBasis,
                         min_variance: float = 1e-4, b_mu=0.0, b_sigma=0.0
                         ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""
    `q` `[batch, heads, L, d_k]`; `k`, `v` `[batch, heads, J, d_k]`; `w_mu`, `w_sigma` `[J]`;
    `b_mu`, `b_sigma` scalars (see the deviations on the [model page](__init__.py)).
    Returns the output `[batch, heads, L, d_k]` and $\mu$, $\sigma^2$, `[batch, heads, L]`.
    """
    # $s$, `[batch, heads, L, J]`
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    # `[batch, heads, L]` each
    mu = torch.sigmoid(scores @ w_mu + b_mu)
    variance = nn.functional.softplus(scores @ w_sigma + b_sigma).clamp(min=min_variance)
    # $r$, `[batch, heads, L, J]`, then $V^\top r$ for every query at once.
    r = expected_basis(mu, variance, basis)
    return r @ v, mu, variance


# ## The KL regulariser
#
# Left alone, a density can shrink towards a spike, which attends to almost nothing and
# gives almost no gradient to $\mu$. The paper adds
# $\mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2)\,\|\,\mathcal{N}(\mu_0, \sigma_0^2)\big)$ with a
# small weight. With `mu_0=None` the prior is centred on each density's own mean
# ($\mu_0 = \mu$), which is what the authors' sorting code does by default: only the width
# is regularised, pulled towards $\sigma_0$. With a number the mean is pulled towards it too:
#
# $$\mathrm{KL} = \tfrac12\Big(\frac{\sigma^2}{\sigma_0^2} - \log\frac{\sigma^2}{\sigma_0^2} - 1
#   + \frac{(\mu - \mu_0)^2}{\sigma_0^2}\Big).$$
#
# We return the mean over all queries and heads, so the weight does not depend on batch size.
def kl_to_prior(mu: torch.Tensor, variance: torch.Tensor, sigma_0: float,
                mu_0: Optional[float] = None) -> torch.Tensor:
    ratio = variance / (sigma_0 * sigma_0)
    kl = 0.5 * (ratio - torch.log(ratio) - 1.0)
    if mu_0 is not None:
        kl = kl + 0.5 * (mu - mu_0) ** 2 / (sigma_0 * sigma_0)
    return kl.mean()


# ## Sticky memories: where did the attention go?
#
# Split $[0, 1]$ into `bins` equal bins and measure, per stream, how much of every density
# fell in each: the mass of $\mathcal{N}(\mu, \sigma^2)$ between edges $t_a$ and $t_b$ is
# $\Phi\big(\frac{t_b - \mu}{\sigma}\big) - \Phi\big(\frac{t_a - \mu}{\sigma}\big)$, with $\Phi$ the standard
# normal distribution function.
# Summed over heads and queries and normalised, this is the histogram that decides where
# the next update samples the old signal. A floor (`eps`, relative to a uniform share) keeps
# every bin reachable, so a region nobody looked at is compressed hard but never erased at
# once.
@torch.no_grad()
def attention_histogram(mu: torch.Tensor, variance: torch.Tensor, bins: int,
                        eps: float = 1e-3) -> torch.Tensor:
    r"""`mu`, `variance` `[batch, ...]` → a probability vector per stream, `[batch, bins]`."""
    edges = torch.linspace(0.0, 1.0, bins + 1, device=mu.device, dtype=mu.dtype)
    sigma = variance.sqrt()
    # The normal CDF at every edge, `[batch, ..., bins + 1]`
    cdf = torch.special.ndtr((edges - mu[..., None]) / sigma[..., None])
    mass = (cdf[..., 1:] - cdf[..., :-1]).flatten(1, -2).sum(1)
    probs = mass / mass.sum(-1, keepdim=True).clamp(min=1e-30)
    probs = probs + eps / bins
    # `[batch, bins]`
    return probs / probs.sum(-1, keepdim=True)


# ## Sampling times from the histogram
#
# We draw the $P$ times by inverting the histogram's cumulative distribution, treating the
# density as constant inside each bin: a quantile `u` that lands in bin `b` maps to the time
# `(b + (u - before) / histogram[b]) / bins`, where `before` is the mass of the bins before
# `b`. The quantiles are *stratified*, one in each of $P$ equal slices of $[0, 1)$: the
# `i`-th is `(i + offset) / n_samples`, with `offset` uniform in $[0, 1)$ when training and
# $\tfrac12$ when evaluating. Three consequences:
#
# * the times come out sorted, so the old signal keeps its order when it is squeezed;
# * points land anywhere inside a bin, never only on its edges (the authors' code snaps
#   samples to bin edges);
# * a uniform histogram gives evenly spaced times: plain uniform sampling is the special case.
def sample_times(histogram: torch.Tensor, n_samples: int, stochastic: bool,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    r"""`histogram` `[batch, bins]` → sorted times in $[0, 1]$, `[batch, n_samples]`."""
    batch, bins = histogram.shape
    offset = (torch.rand(batch, n_samples, generator=generator, device=histogram.device,
                         dtype=histogram.dtype) if stochastic
              else torch.full((batch, n_samples), 0.5, device=histogram.device, dtype=histogram.dtype))
    u = (torch.arange(n_samples, device=histogram.device, dtype=histogram.dtype) + offset) / n_samples
    # The mass up to the right edge of each bin, `[batch, bins]`
    cdf = histogram.cumsum(-1)
    b = torch.searchsorted(cdf, u.contiguous()).clamp(max=bins - 1)
    before = torch.gather(cdf, 1, b) - torch.gather(histogram, 1, b)
    within = ((u - before) / torch.gather(histogram, 1, b)).clamp(0.0, 1.0)
    return (b + within) / bins
