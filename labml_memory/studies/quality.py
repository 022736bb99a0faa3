r"""
# Study: quality at equal compute, and whether each model uses its memory

Two questions about every architecture on Tiny Shakespeare, each asked of three seeds:

1. **Given the same training compute, which architecture learns the most?** Every model
   trains for as many steps as a fixed budget of floating-point operations allows, long
   enough that every one of them is past the early phase (below 1.75 nats per character).
2. **Does it use its memory?** The trained model is evaluated with its state built from only
   the last $h$ segments ($h = 0$ is no memory at all), for $h$ from 0 to 8 and for the whole
   stream; with a longer evaluation memory where the architecture has one (Transformer-XL's
   `eval_mem_len`, up to 8× the training memory); and character by character inside the
   segment, where memory should help the first positions most.

```
python -m labml_memory.studies run quality                          # every run not yet recorded
python -m labml_memory.studies run quality architectures=transformer_xl seeds=0
python -m labml_memory.studies report quality                       # redraw both pages
```

Each (model, seed) is one run and one record, `docs/results/quality/records/<model>_seed<s>.json`,
written as soon as the run and its evaluations finish: a run already recorded is skipped, so
the study can be stopped and restarted, and two workers started at once share the plan. A run
is keyed by model and seed only; to train again at other settings, move the records to
`history/<why>/` first. The report writes `docs/results/quality.md` (question 1) and
`docs/results/quality/context.md` (question 2) from the records alone.

## How compute is matched: counted operations

The budget is counted, not timed, so it does not depend on how busy the machine is.
`torch.utils.flop_counter.FlopCounterMode` counts the floating-point operations of one
training step of each model (forward and backward, memory full, as `train_step` takes it):
matrix products, attention and convolutions, which are nearly all of a transformer's work.
Element-wise operations, the optimiser and the Memorizing Transformer's top-$k$ selection are
not counted. The plain transformer's step at `steps` steps sets the budget $B$; every model
then trains $\mathrm{round}(B / F)$ steps, $F$ being its own operations per step. Every step
reads the same characters (16 streams of 64, or the plain transformer's 8 of 128), so the
budget per character is the same for every model. A run counts its own model's step and the
plain transformer's (a few seconds against minutes of training), and both counts are kept in
its record.

## The models

The [peers study](quality_peers.py)'s sizes (4 layers, $d = 128$, 4 heads, segments of
$L = 64$, memory $M = 64$, 16 streams, dropout off, peak learning rate 0.002 with a cosine
schedule), each architecture at its CPU preset's remaining settings, built through its
experiment's registry entry. The plain transformer is Transformer-XL with no memory on
segments of 128 characters with 8 streams: each query sees up to 128 characters back, as the
last query of a memory model's segment does.

## The verdicts

Every comparison between two cells is paired by seed and read by the [statistics](stats.py):
the validation loss of each model against the plain transformer's and against
Transformer-XL's on the first page; on the second, what the whole history is worth against
none, what it carries from further back than one segment, that worth against the plain
transformer's, and the best longer evaluation memory against the trained one. The margin of
the ties, `margin`, is in nats per character and is one setting for both pages.
"""
import functools
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from labml_memory.studies import stats
from labml_memory.studies.quality_peers import (BASELINE, SIZES, builder, config_for, file_name,
                                                history_lines, name_of, ours)
from labml_memory.studies import plots
from labml_memory.studies.runner import SEED_CELLS, Convention, Page, Records, Run, Study, tally

NAME = 'quality'
XL = 'transformer_xl'
# The relative gain below which more context "no longer helps" (Khandelwal et al. and the
# Transformer-XL paper's threshold $r$; see the context page).
R = 0.01
# The first scored segment of the evaluation streams: every history $h \le 8$ is complete.
FIRST = 8


# ## Settings
#
# The defaults are what the committed records were made with.
@dataclass
class Settings:
    architectures: List[str] = field(default_factory=lambda: ours() + [file_name(BASELINE)])
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    # The plain transformer's steps: they set the budget of counted operations.
    steps: int = 1500
    warmup: int = 60
    eval_segments: int = 24
    histories: List[int] = field(default_factory=lambda: [0, 1, 2, 4, 8])
    eval_mem_lens: List[int] = field(default_factory=lambda: [0, 32, 64, 128, 256, 512])
    margin: float = 0.01

    def validate(self) -> None:
        valid = ours() + [file_name(BASELINE)]
        unknown = [a for a in self.architectures if name_of(a) not in ours() + [BASELINE]]
        if unknown:
            raise ValueError(f"architectures: unknown {unknown}; valid: {', '.join(valid)}")
        if not self.histories or max(self.histories) > FIRST or min(self.histories) < 0:
            raise ValueError(f"histories go from 0 up to {FIRST} segments (the first scored segment); "
                             f"got {self.histories}")
        if 0 not in self.histories or 1 not in self.histories:
            raise ValueError(f"histories must hold 0 and 1 (the pages compare with no memory and one "
                             f"segment); got {self.histories}")
        if not self.seeds or self.steps < 1 or self.eval_segments < 1:
            raise ValueError(f"need at least one seed, steps >= 1 and eval_segments >= 1; got "
                             f"seeds={self.seeds}, steps={self.steps}, eval_segments={self.eval_segments}")
        if self.margin < 0:
            raise ValueError(f"margin is a size in nats per character, got {self.margin}")


# Seeds outside, models inside: two workers finish seed 0 of every model before seed 1.
def plan(settings: Settings) -> List[Run]:
    shared = {'steps': settings.steps, 'warmup': settings.warmup, 'eval_segments': settings.eval_segments,
              'histories': settings.histories, 'eval_mem_lens': settings.eval_mem_lens,
              'margin': settings.margin}
    return [Run(f'{file_name(name)}_seed{seed}', {'name': name, 'seed': seed, **shared})
            for seed in settings.seeds for name in map(name_of, settings.architectures)]


# ## Counting a step's operations
#
# A stand-in for the training streams: random characters, the shapes the trainer reads.
class _RandomStreams:
    def __init__(self, batch: int, seq_len: int, vocab: int):
        self.batch, self.seq_len, self.vocab = batch, seq_len, vocab

    def segment(self, index: int):
        import torch
        g = torch.Generator().manual_seed(index)
        x = torch.randint(self.vocab, (self.batch, self.seq_len + 1), generator=g)
        return x[:, :-1], x[:, 1:], False


# The memory is filled first with `warm` steps (a Memorizing Transformer's table and a
# Compressive Transformer's compressed memory grow over several segments; their attention
# costs most when full), then one step is counted. The count depends only on the shapes, so
# one process counts each model once.
@functools.lru_cache(maxsize=None)
def flops_per_step(name: str, vocab: int = 65, warm: int = 24) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from labml_memory.training import make_optimizer, train_step
    config = config_for(name, {'steps': 10})
    torch.manual_seed(0)
    model = builder(name)(config, vocab)
    optimizer = make_optimizer(model, config)
    streams = _RandomStreams(config.batch_size, config.seq_len, vocab)
    memory = None
    for step in range(warm):
        memory, _ = train_step(model, model, optimizer, streams, memory, step, config, torch.device('cpu'))
    with FlopCounterMode(display=False) as counter:
        train_step(model, model, optimizer, streams, memory, warm, config, torch.device('cpu'))
    return int(counter.get_total_flops())


# ## Evaluating how far back a trained model looks
#
# The evaluation streams are the same for every model: the held-out text cut into 16 streams
# of segments of $L = 64$, and segments $t = 8 \dots 8 + E - 1$ of every stream are scored,
# so every $h \le 8$ has its full history. The plain transformer has no state: "history $h$"
# for it is the text it reads before the scored segment in the same call (at most the 64
# characters its 128-long window allows), so its $h \ge 1$ are one number.
def _score(logits, targets):
    import torch.nn.functional as F
    # Per-position summed losses `[L]` and the count of streams.
    losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction='none')
    return losses.view(targets.shape).sum(0)


def context_curves(model, name: str, streams, config, histories: List[int],
                   eval_segments: int, eval_mem_lens: List[int]) -> Dict:
    import torch
    with torch.no_grad():
        return _context_curves(model, name, streams, config, histories, eval_segments, eval_mem_lens)


def _context_curves(model, name, streams, config, histories, eval_segments, eval_mem_lens) -> Dict:
    import torch
    model.eval()
    L = streams.seq_len
    plain = name == BASELINE
    scored = range(FIRST, FIRST + eval_segments)
    n_chars = streams.inputs.shape[0] * eval_segments

    def run_plain(t: int, h: int):
        # The scored segment with up to `h` preceding segments in the same window.
        back = min(h, config.seq_len // L - 1, t)
        x = torch.cat([streams.segment(t - back + k)[0] for k in range(back + 1)], dim=1)
        logits = model(x, None)[0][:, -L:]
        return _score(logits, streams.segment(t)[1])

    def run_memory(t: int, h: int):
        memory = None
        for k in range(t - h, t):
            memory = model(streams.segment(k)[0], memory)[1]
        x, y, _ = streams.segment(t)
        return _score(model(x, memory)[0], y)

    out = {'histories': {}, 'positions': {}, 'eval_mem_len': {}}
    for h in histories:
        per_position = sum((run_plain if plain else run_memory)(t, h) for t in scored)
        out['histories'][str(h)] = per_position.sum().item() / (n_chars * L)
        if h == 0:
            out['positions']['0'] = (per_position / n_chars).tolist()

    # The whole stream: the state runs from the start of the held-out text (segment 0), as
    # validation does, and the same segments are scored.
    def whole_stream():
        if plain:
            return sum(run_plain(t, 1) for t in scored)
        memory, total = None, torch.zeros(L)
        for t in range(FIRST + eval_segments):
            x, y, _ = streams.segment(t)
            logits, memory, _ = model(x, memory)
            if t >= FIRST:
                total += _score(logits, y)
        return total
    per_position = whole_stream()
    out['histories']['all'] = per_position.sum().item() / (n_chars * L)
    out['positions']['all'] = (per_position / n_chars).tolist()

    # A longer evaluation memory, where the model has one per layer (Transformer-XL): every
    # layer's memory set to the same length, and put back afterwards.
    if not plain and hasattr(model, 'eval_mem_len') and name == XL:
        kept = list(model.eval_mem_len)
        for m in eval_mem_lens:
            model.eval_mem_len = [m] * len(kept)
            out['eval_mem_len'][str(m)] = whole_stream().sum().item() / (n_chars * L)
        model.eval_mem_len = kept
    return out


# ## One run: count, train, then evaluate
def execute(run: Run) -> Dict[str, Any]:
    from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split
    from labml_memory.training import train
    s = run.settings
    name, seed = s['name'], s['seed']
    flops, budget = flops_per_step(name), flops_per_step(BASELINE) * s['steps']
    steps = max(1, round(budget / flops))
    print(f'== {name}, seed {seed}: {steps} steps', flush=True)
    logs = tempfile.mkdtemp(prefix='quality_compute_')
    config = config_for(name, {'logs_dir': logs, 'steps': steps, 'seed': seed,
                               'warmup': s['warmup'], 'log_every': 10})
    started = time.time()
    result = train(config, builder(name), 'quality_compute_' + file_name(name))
    trained = time.time() - started
    # The evaluation streams: 16 of 64 for every model (see above).
    text = load_text(Path(config.data_file) if config.data_file else None)
    vocab = Vocabulary.from_text(text)
    streams = SequentialStreams(split(vocab.encode(text))[1], SIZES.batch_size, SIZES.seq_len)
    started = time.time()
    curves = context_curves(result.model, name, streams, config, s['histories'],
                            s['eval_segments'], s['eval_mem_lens'])
    print(f"   {name} seed {seed}: valid {result.final_valid_loss:.4f} in {trained:.0f} s", flush=True)
    return {'name': name, 'seed': seed, 'steps': result.final_step, 'run_uuid': result.run_uuid,
            'valid_loss': result.final_valid_loss, 'curve': result.train_losses,
            'wall_time': result.wall_time, 'train_seconds': trained,
            'eval_seconds': time.time() - started,
            'parameters': sum(p.numel() for p in result.model.parameters()),
            'state_bytes': result.memory_bytes // max(config.batch_size, 1),
            'context': curves, 'flops_per_step': flops, 'budget_flops': budget,
            'reference_steps': s['steps']}


# ## Reading the records
#
# Ours by name, then the plain transformer last, as on every other page; each model's seeds
# in order.
def load(records: Records) -> Dict[str, List[Dict]]:
    runs: Dict[str, List[Dict]] = {}
    for record in records:
        runs.setdefault(record['name'], []).append(record)
    for name in runs:
        runs[name].sort(key=lambda r: r['seed'])
    return dict(sorted(runs.items(), key=lambda kv: (kv[0] == BASELINE, kv[0])))


def margin_of(runs: Dict[str, List[Dict]]) -> float:
    margins = {r['run']['margin'] for rs in runs.values() for r in rs}
    if len(margins) != 1:
        raise ValueError(f"{NAME}: the records disagree on the margin ({sorted(margins)}); move the "
                         f"older ones to history/<why>/ before reporting")
    return margins.pop()


# The headline loss: every model scored on the same characters (segments 8 to 31 of the 16
# evaluation streams) with its whole history, see above.
def headline(record: Dict) -> float:
    return record['context']['histories']['all']


def history(key: str):
    return lambda record: record['context']['histories'][key]


# ## Effective context
#
# The history grid $h$ (segments before the scored one) in characters: $h L$.
def grid(record: Dict) -> List[str]:
    return [h for h in record['context']['histories'] if h != 'all']


# ECL of one model: the shortest history $h$ such that no longer history measured lowers the
# loss by a fraction $r$ or more of the loss at $h$.
def ecl(record: Dict, r: float = R) -> int:
    hs = grid(record)
    losses = record['context']['histories']
    for i, h in enumerate(hs):
        longer = [losses[k] for k in hs[i + 1:]] + [losses['all']]
        if all(losses[h] - v < r * losses[h] for v in longer):
            return int(h)
    return int(hs[-1])


# RECL, the Transformer-XL paper's relative version: the gain of going from $h$ to the next
# history is measured against the *best loss any model of the group reaches at $h$*, so a
# model that is poor with short context does not earn a long effective context by
# recovering what the others never lost. The smallest $h$ at which model $m$'s loss with the
# next longer history is not a fraction $r$ below the group's best at $h$.
def recl(record: Dict, group_best: Dict[str, float], r: float = R, start: str = '0') -> int:
    hs = grid(record)
    hs = hs[hs.index(start):]
    losses = record['context']['histories']
    for h, nxt in zip(hs, hs[1:]):
        if (group_best[h] - losses[nxt]) / group_best[h] < r:
            return int(h)
    return int(hs[-1])


# A range over seeds, or its one value when every seed agrees.
def extent(values: List[int]) -> str:
    return str(values[0]) if min(values) == max(values) else f"{min(values)}–{max(values)}"


def seeds_of(runs: Dict[str, List[Dict]]) -> str:
    counts = sorted({len(rs) for rs in runs.values()})
    return '–'.join(map(str, counts)) if len(counts) > 1 else str(counts[0])


# ## Verdicts in words
#
# The comparisons of a page grouped by verdict, each with its difference and interval, the
# largest improvement first within a group. `text` ends in the verdict, which the group
# already says, so each item keeps only the difference and its bracket.
ORDER = (stats.AHEAD, stats.TIE, stats.BEHIND, stats.UNRESOLVED)


def grouped(found: Dict[str, stats.Verdict], digits: int = 3) -> str:
    """`found` maps the name the page gives each comparison to its verdict."""
    groups = []
    for word in ORDER:
        inside = sorted(((n, v) for n, v in found.items() if v.verdict == word), key=lambda nv: nv[1].mean)
        if inside:
            groups.append(f"**{word}**: " + ', '.join(
                f"{n} ({v.text(digits).rsplit(', ', 1)[0]})" for n, v in inside))
    return '; '.join(groups)


def converted_note(runs: Dict[str, List[Dict]]) -> str:
    return (' For these records the margin was set when they were converted to the study '
            'runner, after the runs.' if any(r.get('converted') for rs in runs.values() for r in rs) else '')


# ## How these numbers were made, for both pages
def provenance(runs: Dict[str, List[Dict]]) -> List[str]:
    every = [r for rs in runs.values() for r in rs]
    dates = sorted(r['machine']['date'] for r in every)
    seeds = sorted({r['seed'] for r in every})
    train = sum(r['train_seconds'] for r in every)
    evaluate = sum(r['eval_seconds'] for r in every)
    m = every[0]['machine']
    commands = list(dict.fromkeys(r['command'].strip() for r in every))
    lines = ['```', *commands, STUDY.report_command, '```', '',
             f"* **Machine:** {m['cpu']}, {m['cores']} cores, one PyTorch thread per run and two runs "
             f"at a time, PyTorch {m['torch']}.",
             f'* **Date:** {dates[0]} to {dates[-1]}',
             f'* **Seeds:** {", ".join(map(str, seeds))} for every model ({len(every)} runs)',
             f'* **Wall time:** {train:,.0f} s of training and {evaluate:,.0f} s of evaluation in all '
             f'({(train + evaluate) / 3600:.1f} h of one core).',
             f'* **Run ids:** in each record (`run_uuid`), with the full-precision losses and the '
             f'learning curve: `docs/results/{NAME}/records/<name>_seed<s>.json`.']
    if any(r.get('converted') for r in every):
        lines.append(f'* **Records:** made by the command above before the study runner, and converted '
                     f'to its layout; `{STUDY.run_command}` makes the same runs.')
    return lines


# ## The quality page
#
# Two figures. The learning curves are small multiples: one panel per memory, on the same
# axes, with the plain transformer in grey in every panel, instead of eight curves on one;
# each curve is smoothed over 30 logged points (300 steps), single steps being noisy, and
# its band is the lowest and highest seed. Then the validation loss of every seed, a dot
# each, on one line per model.
def smoothed_curves(rs: List[Dict]) -> Tuple[List[float], List[List[float]]]:
    steps = sorted(set.intersection(*[set(r['curve']) for r in rs]), key=int)
    smooth = []
    for r in rs:
        values = [r['curve'][s] for s in steps]
        k = 30
        smooth.append([statistics.mean(values[max(0, j - k + 1):j + 1]) for j in range(len(values))])
    # Curves against counted operations: steps × operations per step, in units of $10^{12}$.
    return [int(s) * rs[0]['flops_per_step'] / 1e12 for s in steps], smooth


def draw_quality(runs: Dict[str, List[Dict]], path: Path, seeds_path: Optional[Path] = None) -> None:
    plt = plots.pyplot()
    from matplotlib.lines import Line2D
    memories = [name for name in runs if name != BASELINE]
    fig, axes, _ = plots.grid(plt, len(memories), 4, width=9.0, row_height=2.0, sharex=True, sharey=True)
    plain = smoothed_curves(runs[BASELINE]) if BASELINE in runs else None
    for i, (ax, name) in enumerate(zip(axes, memories)):
        if plain:
            x, smooth = plain
            ax.plot(x, [statistics.mean(v) for v in zip(*smooth)], color=plots.GREY, linestyle='--',
                    linewidth=1, marker='x', markevery=max(1, len(x) // 6), markersize=4, label=BASELINE)
        x, smooth = smoothed_curves(runs[name])
        style = plots.series(i)
        ax.plot(x, [statistics.mean(v) for v in zip(*smooth)], linewidth=1.2, markevery=max(1, len(x) // 6),
                markersize=4, label=name, **style)
        ax.fill_between(x, [min(v) for v in zip(*smooth)], [max(v) for v in zip(*smooth)],
                        color=style['color'], alpha=0.2, linewidth=0)
        ax.set_title(name)
        ax.set_ylim(1.4, 2.1)
        ax.grid(alpha=0.3)
    plots.label_grid(axes, 4, 'operations (10¹² FLOPs)', 'training loss (nats/char)')
    fig.suptitle('Learning curves against counted operations: each memory (mean, band over seeds) '
                 'and the plain transformer (grey)')
    seeds = sorted({len(rs) for rs in runs.values()})
    plots.legend_below(fig, ncol=2, handles=[
        Line2D([], [], color='C0', marker='o', label=f'the panel\'s model: mean of {seeds[-1]} seeds, '
                                                    'moving average of 300 steps; band: lowest to highest seed'),
        Line2D([], [], color=plots.GREY, linestyle='--', marker='x', label=f'{BASELINE}, the same in every panel')],
        labels=None)
    plots.save(fig, path)
    if seeds_path is not None:
        draw_seeds(runs, seeds_path)


# Validation loss of every seed, a dot each on one line per model, the mean a bar: the spread
# the verdicts are read against, on an axis that spans the data (dots, not bars cut above 0).
def draw_seeds(runs: Dict[str, List[Dict]], path: Path) -> None:
    plt = plots.pyplot()
    names = list(runs)
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(names) + 1.6), layout='constrained')
    y = list(range(len(names)))[::-1]
    for yi, (i, name) in zip(y, enumerate(names)):
        values = [headline(r) for r in runs[name]]
        style = plots.series(i)
        ax.plot([min(values), max(values)], [yi, yi], color=style['color'], linewidth=3, alpha=0.4)
        ax.plot(values, [yi] * len(values), linestyle='none', markersize=5, **style)
        ax.plot([statistics.mean(values)], [yi], color='black', marker='|', markersize=14, linestyle='none')
    ax.axvline(1.75, color='0.5', linestyle=':', linewidth=1)
    ax.set_yticks(y, names)
    ax.set_xlabel('validation loss (nats/char): each seed a dot, | the mean')
    ax.set_title('Validation loss at equal compute (left is better)')
    ax.grid(axis='x', alpha=0.3)
    plots.save(fig, path)


# Every verdict of the quality page, in one call: each model against the plain transformer,
# and each model but those two against Transformer-XL, the memory the others build on.
def quality_verdicts(runs: Dict[str, List[Dict]], margin: float) -> Dict[str, stats.Verdict]:
    loss = {name: stats.by_seed(rs, headline) for name, rs in runs.items()}
    pairs = {}
    if BASELINE in runs:
        pairs.update({f'{name} against {BASELINE}': (loss[name], loss[BASELINE])
                      for name in runs if name != BASELINE})
    if XL in runs:
        pairs.update({f'{name} against {XL}': (loss[name], loss[XL])
                      for name in runs if name not in (XL, BASELINE)})
    return stats.compare(pairs, margin, lower_is_better=True) if pairs else {}


def quality_page(runs: Dict[str, List[Dict]], out: Path, history: List[str] = ()) -> Page:
    draw_quality(runs, out / NAME / 'quality.png', out / NAME / 'quality_loss.png')
    margin = margin_of(runs)
    found = quality_verdicts(runs, margin)
    first = next(iter(runs.values()))[0]
    lines = ['| model | steps | operations per step (10⁹) | parameters | state per stream (bytes) | '
             'validation loss, mean<br><small>min–max</small> | against the plain transformer |',
             '|---|---:|---:|---:|---:|---:|---|']
    for name, rs in runs.items():
        against = found.get(f'{name} against {BASELINE}')
        verdict = '(the reference)' if name == BASELINE else against.text(3) if against else ''
        lines.append(f"| {name} | {rs[0]['steps']:,} | {rs[0]['flops_per_step'] / 1e9:.2f} | "
                     f"{rs[0]['parameters']:,} | {rs[0]['state_bytes']:,} | "
                     f"{stats.cell([headline(r) for r in rs], 4)} | {verdict} |")
    lines += ['',
              '* **steps**: the budget divided by the model\'s operations per step, rounded; the budget is '
              f"the plain transformer's {first['reference_steps']:,} steps, "
              f"{first['budget_flops'] / 1e12:.1f} × 10¹² operations.",
              '* **operations per step**: counted by `torch.utils.flop_counter.FlopCounterMode` over one '
              'training step (forward and backward, memory full): matrix products, attention and '
              'convolutions. Element-wise work, the optimiser and top-$k$ selection are not counted.',
              '* **state per stream**: the bytes a model carries from one segment to the next for one stream.',
              '* **validation loss**: nats per character on the same characters for every model (segments 8 '
              'to 31 of the held-out text cut into 16 streams of 64, 24,576 characters), each model with '
              'its whole history; the plain transformer reads every scored segment with the 64 characters '
              'before it in its window of 128. (The trainer\'s own final validation, `valid_loss` in each '
              'record, cuts the held-out text into as many streams as the model trains with, so the '
              'plain transformer\'s 8 streams of 128 read other characters than the 16 of 64 of the rest; '
              'it is kept in the records, not compared here.)',
              '* **against the plain transformer**: the model\'s loss minus the plain transformer\'s, '
              'with its verdict.' + converted_note(runs), '']
    ranked = sorted(runs, key=lambda n: statistics.mean(headline(r) for r in runs[n]))
    worst = max(max(headline(r) for r in rs) for rs in runs.values())
    lines += ['## Reading', '',
              ("* " + (f"Every seed of every model is below 1.75 nats/char (the worst is {worst:.4f})."
                       if worst < 1.75 else f"Not every seed is below 1.75 nats/char: the worst is {worst:.4f}."))]
    def against(other: str) -> Dict[str, stats.Verdict]:
        return {k[:-len(f' against {other}')]: v for k, v in found.items() if k.endswith(f' against {other}')}
    if against(BASELINE):
        lines.append(f"* Against the plain transformer: {grouped(against(BASELINE))}.")
    if against(XL):
        lines.append(f"* Against Transformer-XL, the memory the others build on: {grouped(against(XL))}.")
    if BASELINE in runs:
        ref = runs[BASELINE][0]['steps']
        fewer = [f"{n} {rs[0]['steps'] / ref:.2f}×" for n, rs in runs.items() if n != BASELINE]
        lines.append('* At equal compute a model that costs more per step sees fewer characters. Steps '
                     'against the plain transformer\'s: ' + ', '.join(fewer) + '.')
    lines += [
              f'* Whether the memories are used at all is measured on the [context page]({NAME}/context.md).',
              '* The one-seed comparison with the public implementations (same sizes, 150 steps) is '
              'on the [peers page](quality_peers.md).', '']
    against_plain = against(BASELINE)
    ahead = [n for n, v in against_plain.items() if v.verdict == stats.AHEAD]
    verdict = ('**Given the same training compute, which architecture learns the most on Tiny Shakespeare?** '
               f"Lowest mean loss: **{ranked[0]}** ({statistics.mean(headline(r) for r in runs[ranked[0]]):.4f}); "
               f"highest: **{ranked[-1]}** ({statistics.mean(headline(r) for r in runs[ranked[-1]]):.4f}). "
               + (f"Against the plain transformer and Transformer-XL, {tally(found)}"
                  + (f"; ahead of the plain transformer: {', '.join(ahead)}" if ahead else '') + '.' if found else ''))
    example = next(iter(found.values())).text(3) if found else ''
    return Page(
        title='Quality at equal compute', verdict=verdict,
        figures=[(f'{NAME}/quality.png', 'Learning curves against counted operations, one panel per memory, '
                                         'the plain transformer in grey in each'),
                 (f'{NAME}/quality_loss.png', 'Validation loss of every seed')],
        about=('Every architecture and a plain transformer with the same attention span train for as many '
               f'steps as the same budget of counted operations allows, {seeds_of(runs)} seeds each, and are '
               'scored on the same held-out characters.'),
        convention=Convention(SEED_CELLS, len(found), margin, ' nats/char', example=example),
        body=lines,
        made=provenance(runs) + [
            '* **Sizes:** 4 layers, $d = 128$, 4 heads, feed-forward 512, segments of $L = 64$, memory '
            '$M = 64$, 16 streams (the plain transformer 8 of 128), dropout off, peak learning rate '
            '0.002, warm-up 60 steps, cosine decay to the last step; each architecture\'s other '
            'settings from its CPU preset.', *history])


def number_of(names: List[str]) -> str:
    from labml_memory.studies.runner import number
    return number(len(names)) if names else 'none'




# ## The context page
#
# Two figures: the gain over no memory by history, every model a line with its own colour and
# marker (the histories are grid values spaced evenly, so the axis says it is not to scale);
# then where in the segment the whole history helps, as small multiples, the plain
# transformer in grey in every panel.
def draw_context(runs: Dict[str, List[Dict]], path: Path, positions_path: Optional[Path] = None) -> None:
    plt = plots.pyplot()
    keys = grid(next(iter(runs.values()))[0]) + ['all']
    fig, a = plt.subplots(figsize=(7.0, 4.6), layout='constrained')
    x = list(range(len(keys)))
    for i, (name, rs) in enumerate(runs.items()):
        # Loss against the history, as the gain over no memory at all: $\mathcal{L}(0) - \mathcal{L}(h)$.
        gains = [[r['context']['histories']['0'] - r['context']['histories'][k] for k in keys] for r in rs]
        style = plots.series(i)
        a.plot(x, [statistics.mean(v) for v in zip(*gains)], '--' if name == BASELINE else '-',
               label=name, markersize=4, **style)
        a.fill_between(x, [min(v) for v in zip(*gains)], [max(v) for v in zip(*gains)],
                       color=style['color'], alpha=0.15, linewidth=0)
    a.set_xticks(x, [f'{k}\n({int(k) * 64})' if k != 'all' else 'all' for k in keys])
    a.set_xlabel(f'history h in segments (characters before the scored segment; {plots.NOT_TO_SCALE})')
    a.set_ylabel('gain over no memory, L(0) − L(h) (nats/char)')
    a.set_title('What the memory is worth, by history (mean, band over seeds)')
    a.axhline(0, color='0.5', linewidth=0.8)
    a.grid(alpha=0.3)
    plots.legend_below(fig, ncol=3)
    plots.save(fig, path)
    if positions_path is not None:
        draw_positions(runs, positions_path)


def draw_positions(runs: Dict[str, List[Dict]], path: Path) -> None:
    plt = plots.pyplot()
    from matplotlib.lines import Line2D

    def by_position(rs):
        # What the whole history saves at position $i$ over no history.
        diffs = [[p0 - pa for p0, pa in zip(r['context']['positions']['0'], r['context']['positions']['all'])]
                 for r in rs]
        return list(range(len(diffs[0]))), diffs
    memories = [name for name in runs if name != BASELINE]
    fig, axes, _ = plots.grid(plt, len(memories), 4, width=9.0, row_height=2.0, sharex=True, sharey=True)
    for i, (ax, name) in enumerate(zip(axes, memories)):
        if BASELINE in runs:
            pos, diffs = by_position(runs[BASELINE])
            ax.plot(pos, [statistics.mean(v) for v in zip(*diffs)], color=plots.GREY, linestyle='--',
                    linewidth=1, marker='x', markevery=8, markersize=4)
        pos, diffs = by_position(runs[name])
        style = plots.series(i)
        ax.plot(pos, [statistics.mean(v) for v in zip(*diffs)], linewidth=1.2, markevery=8, markersize=4, **style)
        ax.fill_between(pos, [min(v) for v in zip(*diffs)], [max(v) for v in zip(*diffs)],
                        color=style['color'], alpha=0.2, linewidth=0)
        ax.axhline(0, color='0.5', linewidth=0.8)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    plots.label_grid(axes, 4, 'position i in the segment', 'L(0) − L(all) (nats/char)')
    fig.suptitle('Where in the 64-character segment the whole history helps, one panel per memory')
    plots.legend_below(fig, ncol=2, handles=[
        Line2D([], [], color='C0', marker='o', label="the panel's model: mean over seeds; band: lowest to highest"),
        Line2D([], [], color=plots.GREY, linestyle='--', marker='x', label=f'{BASELINE}, the same in every panel')])
    plots.save(fig, path)


# The evaluation memory of Transformer-XL with the lowest mean loss, and the one it trained
# with; their comparison joins the page's others when they differ.
def best_eval_memory(xl: List[Dict]) -> Tuple[str, str]:
    mems = list(xl[0]['context']['eval_mem_len'])
    best = min(mems, key=lambda m: statistics.mean(r['context']['eval_mem_len'][m] for r in xl))
    return best, str(xl[0]['context'].get('trained_mem_len', 64))


# Every verdict of the context page, in one call, each a loss against a loss (lower is
# better, so *ahead* is always "the memory lowers the loss"):
#
# * **worth**: $\mathcal{L}(\text{all})$ against $\mathcal{L}(0)$, the whole history against none;
# * **beyond**: $\mathcal{L}(\text{all})$ against $\mathcal{L}(1)$, what the state carries from further back than the
#   segment just before;
# (There is no verdict against the plain transformer here: at $h = 0$ a model trained with
# memory reads without the state it always had, out of its training distribution, so its gain
# over $h = 0$ is partly that penalty; the in-distribution comparison is the quality page's.)
# * **eval memory**: Transformer-XL's best longer evaluation memory against the trained one.
def context_verdicts(runs: Dict[str, List[Dict]], margin: float) -> Dict[Tuple[str, str], stats.Verdict]:
    memories = [name for name in runs if name != BASELINE]
    pairs: Dict[Tuple[str, str], tuple] = {}
    for name in memories:
        pairs[('worth', name)] = (stats.by_seed(runs[name], history('all')), stats.by_seed(runs[name], history('0')))
    for name in memories:
        pairs[('beyond', name)] = (stats.by_seed(runs[name], history('all')), stats.by_seed(runs[name], history('1')))
    xl = runs.get(XL, [])
    if xl and xl[0]['context'].get('eval_mem_len'):
        best, trained = best_eval_memory(xl)
        if best != trained and trained in xl[0]['context']['eval_mem_len']:
            def at(m):
                return stats.by_seed(xl, lambda r: r['context']['eval_mem_len'][m])
            pairs[('eval memory', XL)] = (at(best), at(trained))
    if not pairs:
        return {}
    # `compare` labels are strings; the page reads them back by (kind, model).
    found = stats.compare({f'{kind}: {name}': pair for (kind, name), pair in pairs.items()}, margin)
    return {key: found[f'{key[0]}: {key[1]}'] for key in pairs}


def context_page(runs: Dict[str, List[Dict]], out: Path) -> Page:
    draw_context(runs, out / NAME / 'context.png', out / NAME / 'context_positions.png')
    margin = margin_of(runs)
    found = context_verdicts(runs, margin)
    hs = grid(next(iter(runs.values()))[0])
    keys = hs + ['all']
    # RECL's group: the memory models only, and for them RECL starts at one segment. The plain
    # transformer's $h = 0$ is its ordinary reading, theirs is out of distribution (a model
    # trained with memory never read without one); a bar set at $h = 0$ by the plain transformer,
    # or by the memory model least hurt by losing its state, gave a RECL of 0 to the Compressive
    # Transformer and the ∞-former, which gain a tenth of a nat from their memory.
    group_best = {h: min(statistics.mean(r['context']['histories'][h] for r in rs)
                         for name, rs in runs.items() if name != BASELINE) for h in hs}
    lines = ['## Loss by history', '',
             '| model | ' + ' | '.join(f'h = {h}' for h in hs) + ' | all |',
             '|---|' + '---:|' * (len(hs) + 1)]
    # The second table: what the memory is worth, and how far back it is used.
    worth = ['', '## What the memory is worth, and how far back', '',
             '| model | gain over h = 0 | gain beyond one segment | ECL (characters) | RECL (characters) |',
             '|---|---:|---:|---:|---:|']
    summary = []
    for name, rs in runs.items():
        cells = [stats.cell([r['context']['histories'][k] for r in rs]) for k in keys]
        gains = [r['context']['histories']['0'] - r['context']['histories']['all'] for r in rs]
        ecls = [ecl(r) * 64 for r in rs]
        recls = [recl(r, group_best, start='0' if name == BASELINE else '1') * 64 for r in rs]
        # What the state carries from further back than the segment just before: $\mathcal{L}(1) - \mathcal{L}(\text{all})$.
        far = [r['context']['histories']['1'] - r['context']['histories']['all'] for r in rs]
        lines.append(f"| {name} | " + ' | '.join(cells) + ' |')
        worth.append(f"| {name} | {stats.cell(gains)} | {stats.cell(far)} | {extent(ecls)} | {extent(recls)} |")
        # Where the gain falls: its mean over the first eight positions against the last eight.
        by_pos = [statistics.mean(p0 - pa for p0, pa in zip(r['context']['positions']['0'][s], r['context']['positions']['all'][s]))
                  for s in (slice(0, 8), slice(-8, None)) for r in rs]
        summary.append((name, statistics.mean(gains), statistics.mean(by_pos[:len(rs)]),
                        statistics.mean(by_pos[len(rs):])))
    lines += worth
    lines += ['',
              '* **h = k**: loss (nats/char, mean and, in small type, the lowest and highest seed) with the '
              'state built from the $k$ segments (64 characters each) before the scored one, starting from '
              'an empty state. The plain transformer carries no state; its $h \\geq 1$ is the scored segment '
              'read with the 64 characters before it in one window, the most its window of 128 holds.',
              '* **gain over h = 0**: $\\mathcal{L}(0) - \\mathcal{L}(\\text{all})$, what the whole state is worth; **gain beyond one '
              'segment**: $\\mathcal{L}(1) - \\mathcal{L}(\\text{all})$, what it carries from further back than the segment just before.',
              '* **all**: the state carried from the start of the held-out stream (up to 31 segments, 1,984 '
              'characters), as in ordinary validation.',
              f'* **ECL** (effective context length, after Khandelwal et al., 2018): in characters, the '
              f'shortest history $h$ beyond which no longer history lowers the loss by {R:.0%} of its value, '
              'range over seeds; on the grid of histories measured (0, 64, 128, 256 and 512 characters), so '
              '64 means "more than none, and no more than one segment".',
              f'* **RECL** (the Transformer-XL paper\'s *relative* effective context length): the same, '
              'but the gain from $h$ to the next history is measured against the lowest loss any model '
              f'of this group reaches with $h$, so that a model weak at short context does not earn a '
              f'long context by recovering what the others never lost; $r = {R}$. The paper takes '
              'the group of its own models and measures on the hardest tokens; here the group is every '
              'memory model on this page and every character counts. For a memory model RECL starts at one '
              'segment, 64 characters: $h = 0$ is out of its training distribution (it never read without a '
              'state), so a bar set there would measure that penalty rather than a context; the plain '
              'transformer, whose $h = 0$ is its ordinary reading, is measured from 0 and is not part of the '
              'group.', '']

    def kind(word: str) -> Dict[str, stats.Verdict]:
        return {name: v for (k, name), v in found.items() if k == word}
    lines += ['## Reading', '',
              'Each verdict here compares two losses, the first minus the second, so a negative '
              'difference is a memory that lowers the loss and *ahead* says the seeds show it.'
              + converted_note(runs), '']
    if kind('worth'):
        lines.append('* **The whole history against none**, $\\mathcal{L}(\\text{all}) - \\mathcal{L}(0)$: ' + grouped(kind('worth')) + '.')
    if kind('beyond'):
        lines.append('* **Beyond one segment** (the state built from more than the 64 characters just '
                     'before the segment, against one segment only), $\\mathcal{L}(\\text{all}) - \\mathcal{L}(1)$: '
                     + grouped(kind('beyond')) + '.')
    if BASELINE in runs:
        plain0 = statistics.mean(r['context']['histories']['0'] for r in runs[BASELINE])
        penalty = {name: statistics.mean(r['context']['histories']['0'] for r in rs) - plain0
                   for name, rs in runs.items() if name != BASELINE}
        worst = max(penalty, key=penalty.get)
        lines.append("* **No verdict against the plain transformer here.** At $h = 0$ a model trained with "
                     "memory reads without the state it always had: out of its training distribution. Its "
                     "$\\mathcal{L}(0)$ is above the plain transformer's "
                     f"{plain0:.3f} by {min(penalty.values()):+.3f} to {max(penalty.values()):+.3f} nats "
                     f"({worst} the most), so a gain over $h = 0$ is partly that penalty, and the difference "
                     "of two such gains measures mostly the penalty. The in-distribution comparison, each "
                     "model with its whole history against the plain transformer with its whole window, is "
                     f"on the [quality page](../{NAME}.md).")
    lines.append('* By position (right panel): the mean gain over the first eight positions of the '
                 'segment, against the last eight: ' + ', '.join(
                     f"{n} {first:.3f} against {last:.3f}" for n, _, first, last in summary)
                 + '. Without memory the first positions have almost nothing to read; this is the '
                 'context fragmentation the Transformer-XL paper set out to remove.')
    xl = runs.get(XL, [])
    if xl and xl[0]['context'].get('eval_mem_len'):
        mems = list(xl[0]['context']['eval_mem_len'])
        best, trained = best_eval_memory(xl)
        lines += ['', '## A longer evaluation memory for Transformer-XL', '',
                  'Trained with $M = 64$, Transformer-XL can be evaluated with a longer cache, as its paper '
                  'does (it trains with 384 and evaluates with 1,600 on WikiText-103). Loss, mean and, in '
                  'small type, the lowest and highest seed, whole history:', '',
                  '| evaluation memory | ' + ' | '.join(mems) + ' |', '|---|' + '---:|' * len(mems),
                  '| loss | ' + ' | '.join(stats.cell([r['context']['eval_mem_len'][m] for r in xl])
                                          for m in mems) + ' |', '']
        against = found.get(('eval memory', XL))
        lines.append(f"The lowest mean is at an evaluation memory of {best} characters"
                     + (f"; against the trained {trained}: {against.text(4)}" if against else '') + '.')
    from labml_memory.studies import echo
    echo_lines = echo.context_section(out, f'../{echo.NAME}.md')
    if echo_lines:
        lines += ['', *echo_lines]
    worth_all, beyond = kind('worth'), kind('beyond')

    def count(found: Dict[str, stats.Verdict]) -> str:
        ahead = [n for n, v in found.items() if v.verdict == stats.AHEAD]
        return (f"{number_of(ahead)} of the {len(found)} memories"
                + (f" ({', '.join(ahead)})" if 0 < len(ahead) < len(found) else ''))
    verdict = ('**Does each model use its memory?** '
               + (f"Seed by seed, the whole history lowers the loss against none for {count(worth_all)}"
                  if worth_all else 'No memory model is recorded')
               + (f", and beyond the one segment just before for {count(beyond)}" if beyond else '')
               + f"; {tally(found)}.")
    return Page(
        title='Does each model use its memory?', verdict=verdict,
        figures=[('context.png', 'Gain over no memory by history'),
                 ('context_positions.png', 'Gain by position inside the segment, one panel per memory')],
        about=('A memory is worth what it lowers the loss. Each model trained on the '
               f'[quality page](../{NAME}.md) ({seeds_of(runs)} seeds each) is scored on the same held-out '
               'characters with its state built from only the last $h$ segments before the scored one: '
               '$h = 0$ is no memory at all, *all* is the whole stream as in ordinary evaluation. The gain '
               '$\\mathcal{L}(0) - \\mathcal{L}(h)$ says what the memory is worth, and where in the segment it helps.'),
        convention=Convention(SEED_CELLS, len(found), margin, ' nats/char',
                              example=next(iter(found.values())).text(3) if found else ''),
        body=lines,
        made=[f'The same runs as the [quality page](../{NAME}.md); each record holds these curves beside its '
              'learning curve.', ''] + provenance(runs))




def report(records: Records, out: Path) -> Dict[str, Page]:
    runs = load(records)
    out = Path(out)
    (out / NAME).mkdir(parents=True, exist_ok=True)
    return {f'{NAME}.md': quality_page(runs, out, history_lines(records)),
            f'{NAME}/context.md': context_page(runs, out)}


STUDY = Study(NAME, 'Given the same training compute, which architecture learns the most on Tiny '
                    'Shakespeare; and does each use its memory?',
              Settings, plan, execute, report, pages=[f'{NAME}.md', f'{NAME}/context.md'], seeds='3',
              reads=('echo',))
