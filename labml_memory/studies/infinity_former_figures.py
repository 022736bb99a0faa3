r"""
# Study: where a trained ∞-former looks, and where sticky memories would sample

Two pictures for the [∞-former's model page](../infinity_former/__init__.py), of one trained
model reading held-out text:

* `density.png`: the Gaussian densities $\mathcal{N}(t; \mu, \sigma^2)$ that every head of one
  layer places over the long-term memory for one query (the last of a segment, the one that
  has seen the whole segment), after the model has read `segments` segments of validation
  text; the basis functions are drawn faintly underneath;
* `sticky.png`: the attention histogram of that call (all heads and queries of the layer, one
  stream) and the $M$ times at which the next update samples the old signal: sticky sampling
  against uniform sampling.

```
python -m labml_memory.studies run infinity_former_figures                    # train, compute, draw
python -m labml_memory.studies run infinity_former_figures steps=100 threads=2 # a quicker, rougher model
python -m labml_memory.studies report infinity_former_figures                 # redraw from the record
```

A run trains the CPU preset of the [experiment](../infinity_former/experiment.py) for `steps`
steps (in a temporary log folder: the checkpoint is not kept, the record is), reads
`segments` segments of the validation text and keeps what the figures draw: $\mu$ and
$\sigma^2$ of every head and query of the chosen layer for stream 0, the histogram and both
sets of sample times. The report draws from the record alone.

The numbers are the model's own code paths: `last_densities` (what the forward pass computed),
and the same `attention_histogram` and `sample_times` the update uses, in evaluation mode
(midpoint quantiles), so the figures show exactly what the next update would do.

What to look for:

* in `density.png`, whether the heads of a layer divide the memory between them (different
  $\mu$), and how wide they look: a density much wider than the basis functions reads an
  average over a long stretch of text, one about as wide as a bump reads a specific region;
* left of the dotted $\tau$ line is text that has been contracted at least once; a density
  there is reaching further back than the short-term memory can;
* in `sticky.png`, the red sample times crowd where the blue mass is high: those regions will
  be represented by more points, and so by more of the $J$ bumps, after the next refit.
  Regions nobody attended to get few points and blur faster than under uniform sampling.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

from labml_memory.studies import plots
from labml_memory.studies.runner import Page, Records, Run, Study, number, unheaded

NAME = 'infinity_former_figures'


@dataclass
class Settings:
    # Training steps: the CPU preset's 800 (about ten minutes on one shared core). A first
    # record of 100 steps is kept in `history/at_100_steps/`.
    steps: int = 800
    seed: int = 0
    # The layer whose densities are drawn, and how many validation segments are read first.
    layer: int = 3
    segments: int = 16
    # `0` leaves PyTorch's default; not part of the key (it changes the time, not the model).
    threads: int = 0

    def validate(self) -> None:
        for name in ('steps', 'segments'):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        # The CPU preset has 4 layers.
        if not 0 <= self.layer < 4:
            raise ValueError(f"layer={self.layer} is out of range; the CPU preset has layers 0..3")
        if self.threads < 0:
            raise ValueError(f"threads must be 0 (PyTorch's default) or more, got {self.threads}")


def plan(settings: Settings) -> List[Run]:
    key = f"steps{settings.steps}-seed{settings.seed}-layer{settings.layer}-after{settings.segments}"
    return [Run(key, {'steps': settings.steps, 'seed': settings.seed, 'layer': settings.layer,
                      'segments': settings.segments, 'threads': settings.threads})]


# ## Reading some text first
#
# The long-term memory is only interesting once it holds something: read `segments`
# segments of the validation text, then keep the densities of the next call.
# The densities come from `last_densities`, which every forward pass refreshes: $\mu$ and
# $\sigma^2$ per layer, `[streams, heads, queries]`, detached.
def densities_after(model, streams, segments: int):
    import torch
    device = next(model.parameters()).device
    with torch.no_grad():
        memory = None
        for index in range(segments):
            _, memory, _ = model(streams.segment(index)[0].to(device), memory)
        model(streams.segment(segments)[0].to(device), memory)
    return model.last_densities


def execute(run: Run) -> Dict[str, Any]:
    import tempfile

    import torch

    from labml_memory.data.shakespeare import SequentialStreams, load_text, split
    from labml_memory.infinity_former.continuous import attention_histogram, sample_times
    from labml_memory.infinity_former.experiment import PRESETS, Config, build_model
    from labml_memory.training import train
    from labml_memory.training.config import build_config
    s = run.settings
    # The CPU preset, shortened to `steps`; no generated sample (the figures do not need one),
    # and the run's logs and checkpoint in a folder that goes away with it.
    with tempfile.TemporaryDirectory() as logs:
        config = build_config(Config, PRESETS, {'steps': s['steps'], 'seed': s['seed'], 'threads': s['threads'],
                                                'sample_len': 0, 'logs_dir': logs})
        result = train(config, build_model, NAME)
    model = result.model.eval()
    # Fixed seed: dropout is off in evaluation and the sample times are midpoints, but the
    # figures should not depend on anything left random.
    torch.manual_seed(0)
    # Eight validation streams read in the model's own segment length; we keep stream 0.
    _, valid = split(result.vocabulary.encode(load_text()))
    streams = SequentialStreams(valid, 8, model.memory_update.segment_len)
    mu, var = (x.cpu() for x in densities_after(model, streams, s['segments'])[s['layer']])  # [B, H, L]
    # The histogram of this call is what the update at the end of the call samples from; with
    # evaluation-mode quantiles the sticky times are deterministic.
    histogram = attention_histogram(mu[:1], var[:1], model.bins)[0]
    m_samples = model.memory_update.n_samples
    sticky = sample_times(histogram[None], m_samples, stochastic=False)[0]
    uniform = (torch.arange(m_samples) + 0.5) / m_samples
    return {'steps': result.final_step, 'final_valid_loss': result.final_valid_loss,
            'final_valid_accuracy': result.final_valid_accuracy, 'train_seconds': result.wall_time,
            'n_basis': config.n_basis, 'widths': list(config.widths), 'tau': model.memory_update.tau,
            'bins': model.bins, 'n_samples': m_samples,
            # `[heads][queries]` of stream 0; the figures use the last query.
            'mu': mu[0].tolist(), 'variance': var[0].tolist(),
            'histogram': histogram.tolist(), 'sticky_times': sticky.tolist(), 'uniform_times': uniform.tolist()}


# ## Drawing
#
# Both figures are drawn from one record. `label` names the model in the titles.
def label_of(record: Dict[str, Any]) -> str:
    return f"{record['steps']} training steps, seed {record['run']['seed']}"


# ### Density over the memory for one query
#
# One curve per head: $\mathcal{N}(t; \mu_h, \sigma_h^2)$ for the last query, scaled to peak 1
# so narrow and wide heads can be compared by position. Underneath, faintly, the basis
# functions the signal is made of (rebuilt from its size and widths: the basis is fixed), and
# the dotted line at $\tau$ where the newest vectors begin.
def draw_density(record: Dict[str, Any], path: Path) -> None:
    plt = plots.pyplot()
    import torch

    from labml_memory.infinity_former.continuous import GaussianBasis
    t = torch.linspace(0, 1, 1000)
    fig, ax = plt.subplots(figsize=(7.2, 4.0), layout='constrained')
    psi = GaussianBasis(record['n_basis'], record['widths'])(t)
    ax.plot(t, psi / psi.max() * 0.15, color='0.85', linewidth=0.6)
    for h, (m, s2) in enumerate(heads(record)):
        density = torch.exp(-0.5 * (t - m) ** 2 / s2) / (2 * torch.pi * s2) ** 0.5
        ax.plot(t, density / density.max(), markevery=50, markersize=4, label=f"head {h}: μ={m:.2f}, σ={s2 ** 0.5:.3f}",
                **plots.series(h))
    ax.axvline(record['tau'], color='0.5', linestyle=':', linewidth=1)
    ax.text(record['tau'], 0.93, ' τ: the newest vectors start here', color='0.4', fontsize=8)
    ax.set_xlabel('t in the long-term memory (0 = oldest text, 1 = newest)')
    ax.set_ylabel('density (scaled to peak 1)')
    ax.set_title(f"∞-former, layer {record['run']['layer']}, last query of a segment after "
                 f"{record['run']['segments']} segments\n({label_of(record)})", fontsize=9)
    plots.legend_below(fig, ncol=2)
    # 130 dpi: sharp on the page at the width of the text column, small in the repository.
    plots.save(fig, path, dpi=130)


# ### Sticky against uniform sampling
#
# The histogram as bars, and the $M$ times of both schemes as two rows of ticks under it.
def draw_sticky(record: Dict[str, Any], path: Path) -> None:
    plt = plots.pyplot()
    histogram, bins, m_samples = record['histogram'], record['bins'], record['n_samples']
    fig, ax = plt.subplots(figsize=(7.2, 4.0), layout='constrained')
    ax.bar([b / bins for b in range(bins)], histogram, width=1 / bins, align='edge', color='tab:blue',
           alpha=0.5, label='attention mass per bin (all heads and queries)')
    top = max(histogram)
    ax.plot(record['sticky_times'], [-0.08 * top] * m_samples, '|', color='tab:red', markersize=12,
            label=f'sticky: {m_samples} sample times')
    ax.plot(record['uniform_times'], [-0.2 * top] * m_samples, '|', color='0.4', markersize=12,
            label=f'uniform: {m_samples} sample times')
    # Room below zero for the two rows of ticks.
    ax.set_ylim(-0.3 * top, 1.1 * top)
    ax.set_xlabel('t in the long-term memory (0 = oldest text, 1 = newest)')
    ax.set_ylabel('share of attention mass')
    ax.set_title(f"Where the next update samples the old signal\n(layer {record['run']['layer']}, one stream; "
                 f"{label_of(record)})", fontsize=9)
    plots.legend_below(fig, ncol=2)
    plots.save(fig, path, dpi=130)


# $(\mu_h, \sigma_h^2)$ of every head for the last query: what the density figure draws.
def heads(record: Dict[str, Any]) -> List[tuple]:
    return [(mu[-1], var[-1]) for mu, var in zip(record['mu'], record['variance'])]


# ## The page
#
# The question, each figure with what it shows, and the model it shows, from the drawn
# record; `runs` are every record, to name the ones not drawn, and `history` the superseded ones.
def page_lines(record: Dict[str, Any], runs: List[tuple], history: Dict[str, List[tuple]] = {}) -> List[str]:
    from labml_memory.infinity_former.experiment import PRESETS
    tau = record['tau']
    preset = PRESETS['cpu']['steps']
    # The middle half of the memory, $0.25 \le t < 0.75$: its share of the attention mass and
    # of each scheme's sample times, the one number that says how far sticky sampling moved.
    middle = lambda times: sum(0.25 <= t < 0.75 for t in times)  # noqa: E731
    bins = record['bins']
    middle_mass = sum(m for b, m in enumerate(record['histogram']) if 0.25 <= b / bins < 0.75)
    lines = ['## The heads', '',
             f"One curve per head (the first figure): the Gaussian density $\\mathcal{{N}}(t; \\mu_h, \\sigma_h^2)$ the query "
             f"places over the memory, scaled to peak 1 so narrow and wide heads compare by position, "
             f"over the {record['n_basis']} basis functions (widths "
             f"{', '.join(f'{w:g}' for w in record['widths'])}) drawn faintly. Left of the dotted line "
             f"at $\\tau = {tau:g}$ is text contracted at least once; right of it, the newest vectors. "
             "A density much wider than a bump reads an average of a long stretch; one about as wide "
             "as a bump reads a specific region.", '',
             '| head | $\\mu$ | $\\sigma$ |', '|---:|---:|---:|']
    lines += [f"| {h} | {m:.3f} | {v ** 0.5:.3f} |" for h, (m, v) in enumerate(heads(record))]
    lines += ['', '* **head**: the attention head of the layer; **$\\mu$**, **$\\sigma$**: the centre and width of '
              'its density over the memory, $t$ from 0 (oldest) to 1 (newest), for the last query.', '',
              '## Sticky sample times', '',
              f"The second figure: the attention histogram of that call ({record['bins']} bins; all heads and queries of "
              f"the layer, one stream) and the {record['n_samples']} times at which the next update "
              "samples the old signal: with sticky memories (red) they crowd where the reads put "
              "their mass, instead of spreading evenly (grey). Where they crowd, more points, and so "
              "more of the bumps, carry that stretch through the refit; regions nobody attended to "
              f"blur faster. Here the middle half of the memory, $0.25 \\le t < 0.75$, holds "
              f"{middle_mass:.0%} of the attention mass and gets {middle(record['sticky_times'])} of the "
              f"{record['n_samples']} sticky times, against {middle(record['uniform_times'])} uniform ones.", '',
              f"The model is the CPU preset of the [experiment](../infinity_former/experiment.md) "
              f"trained for {record['steps']} steps"
              + (f" of the preset's {preset}: a shorter run than the preset, so its heads are less settled "
                 f"than a full run's would be (`python -m labml_memory.studies run {NAME} steps={preset}` "
                 "draws the preset's model)" if record['steps'] < preset else '')
              + f", reaching {record['final_valid_loss']:.4f} nats per character on the whole held-out "
              "text. A picture of one model: it compares nothing, so it makes no verdict.", '']
    others = [r['key'] for r, _ in runs if r is not record]
    if others:
        lines += ['Also recorded, not drawn: ' + ', '.join(f"`{key}`" for key in others) + '.', '']
    if history:
        old = [f"`{why}/{record['key']}` ({record['steps']} steps, "
               f"{record['final_valid_loss']:.4f} nats per character)"
               for why, rs in history.items() for record, _ in rs]
        lines += ['Superseded, kept as history and not drawn: ' + '; '.join(old) + '.', '']
    return lines


# The figures of the best-trained record (most steps; the last key among equals) are the
# ones the model page shows. Any other record is named, not drawn.
def report(records: Records, out: Path) -> Dict[str, Page]:
    from labml_memory.training import provenance
    runs = sorted(records.runs, key=lambda rp: rp[0]['steps'])
    record, _ = runs[-1]
    folder = Path(out) / NAME
    draw_density(record, folder / 'density.png')
    draw_sticky(record, folder / 'sticky.png')
    s = record['run']
    return {f'{NAME}.md': Page(
        title='∞-former: where the heads look in the long-term memory',
        verdict=('**Where does a trained ∞-former read its long-term memory, and where would sticky memories '
                 f'sample it at the next update?** {headline(record)}'),
        figures=[(f'{NAME}/density.png', 'Densities of the heads over the long-term memory'),
                 (f'{NAME}/sticky.png', 'Sticky against uniform sample times')],
        about=(f"One model, layer {s['layer']}, the last query of the segment after {s['segments']} segments of "
               'held-out text.'),
        body=page_lines(record, runs, records.history),
        made=unheaded(provenance.section(runs, label=lambda r: r['key'], seconds='train_seconds',
                                         seeds=[r['run']['seed'] for r, _ in runs])))}


# The headline, from the record: where the heads look (oldest quarter, middle, newest
# quarter), how wide, and where sticky sampling would put its times.
def headline(record: Dict[str, Any]) -> str:
    found = heads(record)
    where = {'the oldest quarter': 0, 'the middle half': 0, 'the newest quarter': 0}
    for m, _ in found:
        where['the oldest quarter' if m < 0.25 else 'the newest quarter' if m >= 0.75 else 'the middle half'] += 1
    looked = ' and '.join(f"{number(n)} at {part}" for part, n in where.items() if n)
    sigmas = [v ** 0.5 for _, v in found]
    middle = sum(0.25 <= t < 0.75 for t in record['sticky_times'])
    uniform = sum(0.25 <= t < 0.75 for t in record['uniform_times'])
    return (f"For the last query, {number(len(found))} heads: {looked} of the memory, with widths σ from "
            f"{min(sigmas):.3f} to {max(sigmas):.3f}; sticky sampling would put {middle} of its "
            f"{record['n_samples']} sample times in the middle half, where uniform sampling puts {uniform}.")


STUDY = Study(NAME, 'Where does a trained ∞-former read its long-term memory, and where would sticky memories sample it?',
              Settings, plan, execute, report, pages=[f'{NAME}.md'], seeds='1 seed')
