r"""
# Study: Transformer-XL's fused attention path against the explicit one

Transformer-XL can compute its attention two ways (see the [model](../transformer_xl/index.md)):
`attention_impl='sdpa'` hands the position terms to `F.scaled_dot_product_attention` as an
additive mask, and `'explicit'` writes the scores, the softmax and the weighted sum out. Both
give the same numbers (the model's tests hold them together); this study asks which is faster,
for a training step (forward and backward) of the same model with the same weights and input.

```
python -m labml_memory.studies run xl_attention_impl                 # measure, then write the page
python -m labml_memory.studies run xl_attention_impl rounds=5 repeats=5
python -m labml_memory.studies report xl_attention_impl              # the page from the record
```

**How it is timed.** For each (segment $L$, memory $M$) the two paths are measured in
alternation, round by round: a round times `repeats` steps of each after one warm-up step and
keeps their median. A busy machine slows both paths of a round alike, so the ratio of a round
stays meaningful even when the absolute times do not; the page reports the median ratio over
rounds with its lowest and highest round. It is a timing, not a trained result: there are no
seeds, and the spread over rounds is what stands behind each ratio.
"""
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from labml_memory.studies import plots
from labml_memory.studies.runner import Convention, Page, Records, Run, Study, number

NAME = 'xl_attention_impl'


@dataclass
class Settings:
    # `LxM` pairs: segment length and memory length.
    shapes: List[str] = field(default_factory=lambda: ['64x64', '128x128', '256x256', '128x512'])
    rounds: int = 3
    repeats: int = 5
    batch_size: int = 16
    device: str = 'cpu'

    def validate(self) -> None:
        for shape in self.shapes:
            parts = shape.split('x')
            if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
                raise ValueError(f"shapes: {shape!r} is not LxM with two positive integers (e.g. 128x256)")
        for name in ('rounds', 'repeats', 'batch_size'):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


# One record per device: measuring again on the same device is a deliberate act (delete the
# record), since a timing is not a seed that adds to the others.
def plan(settings: Settings) -> List[Run]:
    return [Run(settings.device, {'shapes': settings.shapes, 'rounds': settings.rounds,
                                  'repeats': settings.repeats, 'batch_size': settings.batch_size,
                                  'device': settings.device})]


# ## One timing
#
# The median of `repeats` forward and backward passes, after one warm-up pass that pays for
# first-call allocations.
def step_time(model, tokens, memory, repeats: int) -> float:
    times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        logits, _, _ = model(tokens, memory)
        logits.sum().backward()
        if i:
            times.append(time.perf_counter() - started)
        model.zero_grad(set_to_none=True)
    return statistics.median(times)


def execute(run: Run) -> Dict[str, Any]:
    import torch

    from labml_memory.transformer_xl import TransformerXL
    s = run.settings
    torch.manual_seed(0)
    rows = []
    for shape in s['shapes']:
        seq_len, mem_len = (int(p) for p in shape.split('x'))
        fused = TransformerXL(65, d_model=128, heads=4, n_layers=4, d_ff=512, mem_len=mem_len, dropout=0.0)
        explicit = TransformerXL(65, d_model=128, heads=4, n_layers=4, d_ff=512, mem_len=mem_len,
                                 dropout=0.0, attention_impl='explicit')
        explicit.load_state_dict(fused.state_dict())
        fused.to(s['device']), explicit.to(s['device'])
        tokens = torch.randint(0, 65, (s['batch_size'], seq_len), device=s['device'])
        with torch.no_grad():
            _, memory, _ = fused(torch.randint(0, 65, (s['batch_size'], mem_len), device=s['device']))
        sdpa, plain = [], []
        for _ in range(s['rounds']):
            sdpa.append(step_time(fused, tokens, memory, s['repeats']) * 1e3)
            plain.append(step_time(explicit, tokens, memory, s['repeats']) * 1e3)
        rows.append({'seq_len': seq_len, 'mem_len': mem_len, 'sdpa_ms': sdpa, 'explicit_ms': plain})
        print(f"L={seq_len:4d} M={mem_len:4d}  explicit/sdpa {statistics.median(b / a for a, b in zip(sdpa, plain)):.2f}x",
              flush=True)
    return {'rows': rows, 'threads': torch.get_num_threads(), 'torch': torch.__version__,
            'model': 'TransformerXL(65, d_model=128, heads=4, n_layers=4, d_ff=512, dropout=0)'}


# ## Reading a record
#
# A round's ratio is explicit over fused time of the same round. Records made before rounds
# were kept hold one best-of time per path; their ratio is that one number.
def ratios(row: Dict[str, Any]) -> List[float]:
    return [b / a for a, b in zip(row['sdpa_ms'], row['explicit_ms'])]


def ratio_text(values: List[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}×"
    return f"{statistics.median(values):.2f}× <small>{min(values):.2f}–{max(values):.2f}</small>"


# One bar per shape, the ratio of the medians (or the one best-of ratio), whiskers from the
# lowest to the highest round where there were rounds, and the line at 1.
def draw(rows: List[Dict[str, Any]], path: Path) -> None:
    plt = plots.pyplot()
    labels = [f"L={r['seq_len']}\nM={r['mem_len']}" for r in rows]
    medians = [statistics.median(ratios(r)) for r in rows]
    lows = [m - min(ratios(r)) for m, r in zip(medians, rows)]
    highs = [max(ratios(r)) - m for m, r in zip(medians, rows)]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout='constrained')
    # Whiskers from the lowest to the highest round, where there was more than one round.
    spread = [lows, highs] if any(len(r['sdpa_ms']) > 1 for r in rows) else None
    ax.bar(range(len(rows)), medians, color='#3f51b5', yerr=spread, capsize=4)
    ax.axhline(1.0, color='#555555', linewidth=1, linestyle='--')
    for i, m in enumerate(medians):
        ax.text(i, m, f'{m:.2f}×', ha='center', va='bottom', fontsize=8)
    ax.set_xticks(range(len(rows)), labels)
    ax.set_xlabel('segment L and memory M')
    ax.set_ylabel('explicit / fused step time')
    ax.set_title('Above 1: the fused path is faster')
    plots.save(fig, path)


def shape(row: Dict[str, Any]) -> str:
    return f"L = {row['seq_len']}, M = {row['mem_len']}"


def report(records: Records, out: Path) -> Dict[str, Page]:
    from labml_memory.training import provenance
    runs: List[Tuple[Dict[str, Any], Path]] = records.runs
    lines, figures, heads = [], [], []
    for record, path in runs:
        rows = record['rows']
        figure = f"{NAME}/{record['key']}.png"
        draw(rows, Path(out) / figure)
        figures.append((figure, f"explicit over fused step time on {record['key']}"))
        rounds = len(rows[0]['sdpa_ms'])
        by = sorted(rows, key=lambda r: statistics.median(ratios(r)))
        faster = [r for r in rows if statistics.median(ratios(r)) > 1]
        heads.append(f"on `{record['key']}`, explicit over fused step time runs from "
                     f"{statistics.median(ratios(by[0])):.2f}× ({shape(by[0])}) to "
                     f"{statistics.median(ratios(by[-1])):.2f}× ({shape(by[-1])}), above 1 (the fused path faster) at "
                     f"{number(len(faster)) if faster else 'none'} of the {number(len(rows))} shapes"
                     + (', each ratio one best-of timing with no spread to judge it by' if rounds == 1 else ''))
        lines += [f"## On `{record['key']}`", '',
                  f"Training step (forward + backward) of {record['model']}, batch "
                  f"{record['run']['batch_size']}, {record['threads']} threads, torch {record['torch']}. "
                  + (f"Median of {record['run']['repeats']} steps per path per round, {rounds} rounds, "
                     "the two paths alternating; the ratio is the median over rounds, with the lowest "
                     "and highest round in small type."
                     if rounds > 1 else
                     f"The record keeps the best of {record['run']['rounds']} alternating medians of "
                     f"{record['run']['repeats']} steps per path (it predates keeping every round), so "
                     "each ratio is one number."), '',
                  '| segment L | memory M | fused (ms) | explicit (ms) | explicit / fused |',
                  '|---:|---:|---:|---:|---:|']
        lines += [f"| {r['seq_len']} | {r['mem_len']} | {statistics.median(r['sdpa_ms']):.1f} | "
                  f"{statistics.median(r['explicit_ms']):.1f} | {ratio_text(ratios(r))} |" for r in rows]
        lines += ['', '* **segment L**, **memory M**: the shape of the step; **fused** and **explicit**: milliseconds '
                  'per training step of each attention path; **explicit / fused**: their ratio, above 1 where the '
                  'fused path is faster.', '']
    lines += ['Both paths must build the `[L, M + L]` position-score matrix (terms (b) and (d)) '
              'explicitly, so the fused kernel can only save the softmax and the weighted sum; on a '
              'CPU that is a small share of a step, and the ratio moves with it. See the '
              '[Transformer-XL experiment page](../transformer_xl/experiment.md).', '']
    # A timing's provenance: no seeds (the rounds are its repeats) and no training time.
    made = ['```'] + [r['command'] for r, _ in runs] + ['```', '']
    for record, path in runs:
        seconds = record.get('seconds')
        made += [f"* **Machine:** {provenance.describe(record.get('machine'))}",
                 f"* **Date:** {provenance.date_of(record, path)}",
                 '* **Seeds:** none: a timing; the rounds are its repeats',
                 f"* **Wall time:** {f'{seconds:.0f} s' if seconds else 'not recorded'}"]
        if record.get('converted'):
            made.append(f"* **Record:** converted {record['converted']}")
    rounds = max(len(record['rows'][0]['sdpa_ms']) for record, _ in runs)
    return {f'{NAME}.md': Page(
        title='Transformer-XL: fused against explicit attention',
        verdict=(f'**{STUDY_QUESTION}** ' + '; '.join(h[0].upper() + h[1:] if i == 0 else h
                                                      for i, h in enumerate(heads)) + '.'),
        figures=figures,
        convention=Convention('A ratio over several rounds is their median, with the lowest and highest round in '
                              'small type under it.') if rounds > 1 else None,
        body=lines, made=made)}


STUDY_QUESTION = ('Is the fused attention path of Transformer-XL faster than the explicit one, for one training '
                  'step of the same model?')
STUDY = Study(NAME, 'Is the fused attention path of Transformer-XL faster than the explicit one?',
              Settings, plan, execute, report, pages=[f'{NAME}.md'], seeds='rounds')
