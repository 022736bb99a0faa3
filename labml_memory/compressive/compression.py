r"""
# Compression functions and compression losses

The [Compressive Transformer](__init__.py) keeps, per layer, a second memory of *compressed*
activations. Every time the ordinary memory overflows, the activations that fall out of it,
`old_mem` ($L$ of them in the steady state), are not thrown away but squeezed by a
compression function $f_c$ into $\lfloor L / c \rfloor$ slots, $c$ being the compression
rate. Section 3.2 of the [paper](https://arxiv.org/abs/1911.05507) tries five such functions
and three ways to train the learnable ones; this page implements all of them.

| `compression=` | $f_c$ | parameters |
|---|---|---|
| `max_pool` | the largest value of each channel over each group of $c$ | none |
| `mean_pool` | the mean of each group of $c$ | none |
| `conv` | a 1-D convolution, kernel = stride = $c$ | $c\, d^2 + d$ |
| `dilated_conv` | a dilated convolution, then the strided one: each slot also sees the group before | $(c + 2)\, d^2 + 2d$ |
| `most_used` | keep the $L / c$ activations that received the most attention, in order | none |

| `compression_loss=` | what trains $f_c$ |
|---|---|
| `attention` | Algorithm 2: reconstruct the *attention output* over `old_mem` from the compressed slots |
| `autoencoding` | reconstruct `old_mem` itself through a learned decoder $f_d$ |
| `bptt` | nothing extra: the language-model loss reaches $f_c$ through the compressed memory |

Pooling and most-used have no parameters, so none of the losses has anything to train in them:
the model skips the loss for them (and reports no `compression` entry), which the
[model page](__init__.py) states again where it builds them.

## Deviations from the paper

* **Dilated convolution.** The paper names a dilated convolution without giving its shape.
  A strided convolution whose taps are spread apart skips inputs (with $c = 2$ and dilation 2,
  every other activation would never be read), so ours is two layers: a length-preserving
  causal convolution with two taps $c$ apart (dilation $c$), which mixes each activation with
  the one at the same offset in the previous group, followed by the strided kernel-$c$
  convolution. Each slot then reads its own group and the group before: a receptive field
  of $2c$ activations, every input read.
* **Losses are means, not sums.** Both reconstruction losses average the squared error over
  elements instead of summing it, so their size does not grow with $d$, $L$ or the batch;
  the attention loss is still summed over layers and added with weight one, as in the paper.
* **Most-used scores.** Usage is the attention an activation received in the step in which it
  was produced (the segment that wrote it into memory), averaged over heads and over the
  queries that could see it, so early and late positions of a segment compete fairly under the
  causal mask. The paper does not pin this down.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from labml_memory.attention import attention_with_weights
from labml_memory.residual import Residual

# The names a configuration may use.
COMPRESSIONS = ('max_pool', 'mean_pool', 'conv', 'dilated_conv', 'most_used')
COMPRESSION_LOSSES = ('attention', 'autoencoding', 'bptt', 'none')


# ## The common interface
#
# Every $f_c$ maps `old_mem`, `[batch, E, d_model]` with $E$ a multiple of $c$, to
# `[batch, E / c, d_model]`. `usage`, `[batch, E]`, is only read by most-used. `learnable`
# tells the model whether a compression loss has anything to train.
class Compression(nn.Module):
    learnable = False

    def __init__(self, d_model: int, rate: int):
        super().__init__()
        self.d_model, self.rate = d_model, rate

    def groups(self, old_mem: torch.Tensor) -> torch.Tensor:
        # Split the time axis into consecutive groups of $c$. `[batch, E / c, c, d_model]`
        batch, length, d = old_mem.shape
        if length % self.rate != 0:
            raise ValueError(f"cannot compress {length} activations at rate {self.rate}: "
                             f"the count must be a multiple of the rate")
        return old_mem.view(batch, length // self.rate, self.rate, d)

    def forward(self, old_mem: torch.Tensor, usage: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError


# ## Max pooling
#
# Kernel = stride = $c$: each slot keeps, channel by channel, the strongest of $c$
# consecutive activations. No parameters.
class MaxPool(Compression):
    def forward(self, old_mem, usage=None):
        return self.groups(old_mem).amax(dim=2)


# ## Mean pooling
#
# The average of each group of $c$: the simplest summary that loses nothing about the
# group's mean direction. The paper's second-best function after the attention-trained
# convolutions on enwik8 (Table 5).
class MeanPool(Compression):
    def forward(self, old_mem, usage=None):
        return self.groups(old_mem).mean(dim=2)


# ## 1-D convolution
#
# A learned linear map from the $c \cdot d$ numbers of a group to the $d$ numbers of its slot.
# A `Conv1d` with kernel = stride = $c$ is exactly that, applied to every group with shared
# weights. `Conv1d` wants channels before time, hence the transposes.
class Conv(Compression):
    learnable = True

    def __init__(self, d_model: int, rate: int):
        super().__init__(d_model, rate)
        self.conv = nn.Conv1d(d_model, d_model, kernel_size=rate, stride=rate)

    def forward(self, old_mem, usage=None):
        self.groups(old_mem)  # only to check the length
        # `[batch, d, E]` → `[batch, d, E / c]` → `[batch, E / c, d]`
        return self.conv(old_mem.transpose(1, 2)).transpose(1, 2)


# ## Dilated convolution
#
# First a length-preserving convolution with two taps $c$ apart,
# $x'_p = W_a x_p + W_b x_{p-c}$, padded with zeros on the left so that position $p$ never
# reads the future and the first group reads nothing before the chunk being compressed.
# Then the strided convolution above. Slot $i$ reads activations $c(i-1) \dots c(i+1)-1$:
# its own group and the previous one.
class DilatedConv(Compression):
    learnable = True

    def __init__(self, d_model: int, rate: int):
        super().__init__(d_model, rate)
        self.dilated = nn.Conv1d(d_model, d_model, kernel_size=2, dilation=rate)
        self.strided = nn.Conv1d(d_model, d_model, kernel_size=rate, stride=rate)

    def forward(self, old_mem, usage=None):
        self.groups(old_mem)
        x = old_mem.transpose(1, 2)
        # Causal padding of $c$ steps keeps the length at $E$. `[batch, d, E]`
        x = self.dilated(F.pad(x, (self.rate, 0)))
        # `[batch, E / c, d]`
        return self.strided(x).transpose(1, 2)


# ## Most-used
#
# Keep the $E / c$ activations with the highest usage and drop the rest, *without* reordering:
# the compressed memory stays in time order, which its relative positions assume. `topk`
# returns indices sorted by score, so we sort them back by position before gathering.
class MostUsed(Compression):
    def forward(self, old_mem, usage=None):
        self.groups(old_mem)
        if usage is None or usage.shape != old_mem.shape[:2]:
            raise ValueError(f"most_used needs a usage score per activation, shape "
                             f"{tuple(old_mem.shape[:2])}, got "
                             f"{None if usage is None else tuple(usage.shape)}")
        keep = old_mem.shape[1] // self.rate
        # `[batch, E / c]`, positions in increasing order
        index = usage.topk(keep, dim=1).indices.sort(dim=1).values
        return old_mem.gather(1, index[:, :, None].expand(-1, -1, old_mem.shape[2]))


_CLASSES = {'max_pool': MaxPool, 'mean_pool': MeanPool, 'conv': Conv,
            'dilated_conv': DilatedConv, 'most_used': MostUsed}


def make_compression(name: str, d_model: int, rate: int) -> Compression:
    if name not in _CLASSES:
        raise ValueError(f"unknown compression {name!r}; valid: {list(COMPRESSIONS)}")
    return _CLASSES[name](d_model, rate)


# ## Usage: how much attention each new activation received
#
# From one layer's attention weights `[batch, heads, L, K]` (the segment's $L$ activations are
# the last $L$ keys), the attention each segment position $j$ received, summed over heads and
# queries and divided by the number of (head, query) pairs that could see it: $H (L - j)$ under
# the causal mask. Without the division the first positions of every segment, visible to every
# query, would always win. `[batch, L]`
def segment_usage(weights: torch.Tensor) -> torch.Tensor:
    heads, seq_len = weights.shape[1], weights.shape[2]
    received = weights[..., -seq_len:].detach().sum(dim=(1, 2))
    viewers = torch.arange(seq_len, 0, -1, device=weights.device, dtype=weights.dtype)
    return received / (heads * viewers)


# ## The attention-reconstruction loss (Algorithm 2)
#
# For one layer, with the segment's activations $h$, `old_mem` and the layer's own $W_q, W_k,
# W_v$ all under stop-gradient:
#
# $$\mathcal{L}^{attn} = \big\| \mathrm{attn}(h, \texttt{old\_mem}) -
#   \mathrm{attn}(h, f_c(\texttt{old\_mem})) \big\|_2^2, \qquad
#   \mathrm{attn}(h, m) = \mathrm{softmax}\big((h W_q)(m W_k)^\top / \sqrt{d_k}\big)\, m W_v$$
#
# Content-only attention: no relative terms and no mask, since all of `old_mem` lies before
# every query. The compressed slots should let the layer retrieve *what it would have retrieved*
# from the raw memories, which is a weaker and more useful demand than reproducing the memories.
#
# The stop-gradient on the weights goes through *copies*: `HeadProjection(x, detached=True)`
# and a functional layer norm with detached parameters. The projections are shared with the
# language model and must keep learning from it; detaching them in place would freeze them.
# So this loss has exactly one thing to train: $f_c$.
def _normalise_detached(residual: Residual, x: torch.Tensor) -> torch.Tensor:
    # What the attention sub-layer reads (pre-LN normalises it), through detached copies.
    if not residual.pre:
        return x
    norm = residual.norm
    return F.layer_norm(x, norm.normalized_shape, norm.weight.detach(), norm.bias.detach(), norm.eps)


def attention_reconstruction_loss(attention_layer: nn.Module, residual: Residual, h: torch.Tensor,
                                  old_mem: torch.Tensor, compressed: torch.Tensor) -> torch.Tensor:
    # `attention_layer` is a `RelativeMultiHeadAttention`; only its $W_q, W_k, W_v$ are used.
    h = _normalise_detached(residual, h.detach())
    old_mem = _normalise_detached(residual, old_mem.detach())
    compressed = _normalise_detached(residual, compressed)
    q = attention_layer.query(h, detached=True)                            # [B, H, L, d_k]

    def attend(memory: torch.Tensor) -> torch.Tensor:
        k = attention_layer.key(memory, detached=True)                     # [B, H, E or E/c, d_k]
        v = attention_layer.value(memory, detached=True)
        return attention_with_weights(q, k, v)[0]                          # [B, H, L, d_k]

    # The target is a constant: nothing upstream of it needs a gradient.
    with torch.no_grad():
        target = attend(old_mem)
    return F.mse_loss(attend(compressed), target)


# ## The auto-encoding loss
#
# $\| \texttt{old\_mem} - f_d(f_c(\texttt{old\_mem})) \|^2$ with a learned decoder $f_d$: a
# transposed convolution with kernel = stride = $c$ that expands each slot back into $c$
# activations. It asks the slots to keep *everything* about the memories, which is lossless in
# intent but spends capacity on details attention never reads (the paper finds it worse than
# attention reconstruction). It trains $f_c$ and $f_d$; `old_mem` is a constant.
class Decoder(nn.Module):
    def __init__(self, d_model: int, rate: int):
        super().__init__()
        self.expand = nn.ConvTranspose1d(d_model, d_model, kernel_size=rate, stride=rate)

    def forward(self, compressed: torch.Tensor) -> torch.Tensor:
        # `[batch, E / c, d]` → `[batch, E, d]`
        return self.expand(compressed.transpose(1, 2)).transpose(1, 2)


def autoencoding_loss(decoder: Decoder, old_mem: torch.Tensor, compressed: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(decoder(compressed), old_mem.detach())
