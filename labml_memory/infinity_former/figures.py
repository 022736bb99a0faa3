r"""
# Figures: where the ∞-former looks, and where sticky memories sample

```
python -m labml_memory.infinity_former.figures                 # the newest trained run
python -m labml_memory.infinity_former.figures run=<uuid> layer=3 segments=16
```

Two pictures for the [model page](__init__.py), written to `docs/results/infinity_former/`:

* `density.png`: the Gaussian densities $\mathcal{N}(t; \mu, \sigma^2)$ that every head of one
  layer places over the long-term memory for one query, after the model has read a stretch
  of validation text; the basis functions are drawn faintly underneath.
* `sticky.png`: the attention histogram of that call (all heads and queries of the layer,
  one stream) and the $M$ times at which the next update samples the old signal: sticky
  sampling against uniform sampling.

The model comes from the newest checkpoint of a Tiny Shakespeare run
(`python -m labml_memory.infinity_former.experiment`); with no run on disk it falls back to an
untrained model and says so in the title.

What to look for:

* in `density.png`, whether the heads of a layer divide the memory between them (different
  $\mu$), and how wide they look: a density much wider than the basis functions reads an
  average over a long stretch of text, one about as wide as a bump reads a specific region;
* left of the dotted $\tau$ line is text that has been contracted at least once; a density
  there is reaching further back than the short-term memory can;
* in `sticky.png`, the red sample times crowd where the blue mass is high: those regions will
  be represented by more points, and so by more of the $J$ bumps, after the next refit.
  Regions nobody attended to get few points and blur faster than under uniform sampling.

The figures are drawn by the model's own code paths: `last_densities` (what the forward pass
computed) and the same `attention_histogram` and `sample_times` the update uses, in
evaluation mode (midpoint quantiles), so they show exactly what the next update would do.
"""

import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from labml_memory.infinity_former.continuous import attention_histogram, sample_times
from labml_memory.infinity_former.experiment import PRESETS, Config, build_model
from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split
from labml_memory.training import checkpoint, experiments_path
from labml_memory.training.config import build_config, parse_overrides

# Where the pictures go, relative to the project root (run from the root). The model page
# links them as `../results/infinity_former/*.png`, relative to its own page
# `infinity_former/`. Re-running overwrites both files.
OUT_DIR = Path('docs/results/infinity_former')


# ## The model to look at
#
# The newest checkpoint of the named run, rebuilt from the configuration stored with it,
# so the figure shows exactly the model that was trained.
def load_model(run: str, vocab_size: int):
    config = build_config(Config, PRESETS, {})
    try:
        run_path = checkpoint.find_run(experiments_path(config), 'infinity_former', run)
        state = checkpoint.load(checkpoint.checkpoints_of(run_path)[-1])
    except (checkpoint.CheckpointError, FileNotFoundError, IndexError) as e:
        print(f"no trained run found ({e}); drawing an untrained model", file=sys.stderr)
        return build_model(config, vocab_size).eval(), 'untrained'
    # The stored configuration rebuilds the model (widths, basis size, layers) as trained.
    stored = build_config(Config, PRESETS, {}, base=state['config'])
    model = build_model(stored, vocab_size)
    model.load_state_dict(state['model'])
    return model.eval(), f"run {run_path.name[:8]}, step {state['step']}"


# ## Reading some text first
#
# The long-term memory is only interesting once it holds something: read `segments`
# segments of the validation text, then keep the densities of the next call.
# The densities come from `last_densities`, which every forward pass refreshes: $\mu$ and
# $\sigma^2$ per layer, `[streams, heads, queries]`, detached.
@torch.no_grad()
def densities_after(model, streams: SequentialStreams, segments: int):
    memory = None
    for index in range(segments):
        _, memory, _ = model(streams.segment(index)[0], memory)
    _, _, _ = model(streams.segment(segments)[0], memory)
    return model.last_densities


# ## Drawing
#
# `run` names the run (`latest` by default), `layer` the layer whose densities are drawn,
# `segments` how much validation text is read first and `query` which query of the next
# segment is shown (`-1`: its last, the one that has seen the whole segment).
def main(argv: Optional[Sequence[str]] = None) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    args = parse_overrides(sys.argv[1:] if argv is None else argv)
    run, layer = args.get('run', 'latest'), int(args.get('layer', 3))
    segments, query = int(args.get('segments', 16)), int(args.get('query', -1))
    # Fixed seed: dropout is off in evaluation, but sticky sampling and the untrained
    # fall-back are random.
    torch.manual_seed(0)
    text = load_text()
    vocab = Vocabulary.from_text(text)
    model, label = load_model(run, vocab.size)
    # A layer that does not exist fails with the range that does.
    if not 0 <= layer < model.n_layers:
        raise ValueError(f"layer={layer} is out of range; this model has layers 0..{model.n_layers - 1}")
    # Eight validation streams read in the model's own segment length; we draw stream 0.
    _, valid = split(vocab.encode(text))
    streams = SequentialStreams(valid, 8, model.memory_update.segment_len)
    # $\mu$, $\sigma^2$ of the chosen layer for the segment after the first `segments`.
    mu, var = densities_after(model, streams, segments)[layer]     # [B, H, L] each
    # Created on first use; `docs/results/` itself belongs to the site, this folder to us.
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    # ### Density over the memory for one query
    #
    # One curve per head: $\mathcal{N}(t; \mu_h, \sigma_h^2)$ for the chosen query, scaled to
    # peak 1 so narrow and wide heads can be compared by position. Underneath, faintly, the
    # basis functions the signal is made of, and the dotted line at $\tau$ where the newest
    # vectors begin (everything left of it has been contracted at least once).
    t = torch.linspace(0, 1, 1000)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    psi = model.basis(t)
    ax.plot(t, psi / psi.max() * 0.15, color='0.85', linewidth=0.6)
    for h in range(mu.shape[1]):
        m, s2 = mu[0, h, query], var[0, h, query]
        density = torch.exp(-0.5 * (t - m) ** 2 / s2) / torch.sqrt(2 * torch.pi * s2)
        ax.plot(t, density / density.max(), label=f"head {h}: μ={m:.2f}, σ={s2.sqrt():.3f}")
    # $\tau$: the boundary between contracted old content and the newest vectors.
    ax.axvline(model.memory_update.tau, color='0.5', linestyle=':', linewidth=1)
    ax.text(model.memory_update.tau, 0.93, ' τ: the newest vectors start here', color='0.4', fontsize=8)
    ax.set_xlabel('t in the long-term memory (0 = oldest text, 1 = newest)')
    ax.set_ylabel('density (scaled to peak 1)')
    ax.set_title(f"∞-former, layer {layer}, last query of a segment after {segments} segments ({label})",
                 fontsize=9)
    ax.legend(fontsize=7, loc='upper left')
    fig.tight_layout()
    # 130 dpi: sharp on the page at the width of the text column, small in the repository.
    fig.savefig(OUT_DIR / 'density.png', dpi=130)
    plt.close(fig)

    # ### Sticky against uniform sampling
    #
    # The histogram of this call is what the update at the end of the call samples from.
    # With evaluation-mode (midpoint) quantiles the sticky times are deterministic, so the
    # picture shows exactly where the next refit would read the old signal: dense where
    # attention went, sparse elsewhere, against the evenly spaced uniform times.
    histogram = attention_histogram(mu[:1], var[:1], model.bins)[0]
    m_samples = model.memory_update.n_samples
    # The $M$ times of both schemes, drawn as two rows of ticks under the histogram.
    sticky = sample_times(histogram[None], m_samples, stochastic=False)[0]
    uniform = (torch.arange(m_samples) + 0.5) / m_samples
    fig, ax = plt.subplots(figsize=(8, 3.6))
    edges = torch.linspace(0, 1, model.bins + 1)
    ax.bar(edges[:-1], histogram, width=1 / model.bins, align='edge', color='tab:blue', alpha=0.5,
           label='attention mass per bin (all heads and queries)')
    top = float(histogram.max())
    ax.plot(sticky, torch.full_like(sticky, -0.08 * top), '|', color='tab:red', markersize=12,
            label=f'sticky: {m_samples} sample times')
    ax.plot(uniform, torch.full_like(uniform, -0.2 * top), '|', color='0.4', markersize=12,
            label=f'uniform: {m_samples} sample times')
    # Room below zero for the ticks, above the bars for the legend.
    ax.set_ylim(-0.3 * top, 1.15 * top)
    ax.set_xlabel('t in the long-term memory (0 = oldest text, 1 = newest)')
    ax.set_ylabel('share of attention mass')
    ax.set_title(f"Where the next update samples the old signal (layer {layer}, one stream; {label})",
                 fontsize=9)
    ax.legend(fontsize=7, loc='upper left')
    fig.tight_layout()
    fig.savefig(OUT_DIR / 'sticky.png', dpi=130)
    plt.close(fig)
    print(f"wrote {OUT_DIR / 'density.png'} and {OUT_DIR / 'sticky.png'} ({label})")


if __name__ == '__main__':
    main()
