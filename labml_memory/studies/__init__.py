r"""
# Studies: every results page, the question it answers and the commands behind it

Each page under Results is written by one study from that study's saved records. This module
is the one list of them: for each, the question, the pages it writes, the command that
measures (minutes to hours) and the command that redraws its pages from the records alone
(seconds, nothing trained). A study without a redraw command is a measurement whose page is
written as it measures (the benchmarks); the list says so rather than pretending otherwise.

```
python -m labml_memory.studies                 # the list
python -m labml_memory.studies report all      # redraw every page that can be redrawn
python -m labml_memory.studies report quality  # one study
python -m labml_memory.studies index           # rewrite docs/results/index.md from this list
```

Every study's page reads the same way (see DESIGN.md, "How a result reads"): the question,
the plot, the table with its columns defined, the reading, then the command, machine, date,
seeds and wall time. The tests check that every page under `docs/results/` belongs to a study
here, and that each redraw command gives back the committed page.
"""
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional


# ## One study
#
# `pages` are paths under `docs/results/`; the tests hold the list to every page there, so a
# new page cannot appear without saying which study writes it. `run` and `report` are the
# commands exactly as a reader types them from the repository root: the index prints them and
# `redraw` runs them, so what the page promises is what is tested. `seeds` is what stands
# behind each number (a count, or `rounds` and `repeats` for the timings, which repeat a
# measurement rather than retrain).
@dataclass(frozen=True)
class Study:
    name: str
    question: str
    pages: List[str]
    run: str
    report: Optional[str] = None
    # Why there is no redraw command, when there is none.
    no_report: str = ''
    # What the pages' numbers stand on: seeds per cell.
    seeds: str = ''
    extra: List[str] = field(default_factory=list)


STUDIES: List[Study] = [
    Study('memory_reach', 'How far back, and how much, can each memory carry at equal state?',
          ['memory_reach.md'], 'python -m labml_memory.tasks.memory_reach run',
          'python -m labml_memory.tasks.memory_reach report', seeds='3'),
    Study('passkey', 'Can each model retrieve one item from a long filler text, at what length and depth?',
          ['passkey/table.md'], 'python -m labml_memory.tasks.passkey model=<name> seed=<s>',
          'python -m labml_memory.tasks.passkey report', seeds='3'),
    Study('quality', 'Given the same training compute, which architecture learns the most on Tiny Shakespeare; '
          'and does each use its memory?',
          ['quality.md', 'context.md'], 'python experiments/quality_at_equal_compute.py run',
          'python experiments/quality_at_equal_compute.py report', seeds='3'),
    Study('quality_peers', 'Ours beside the public implementations of the same papers, at equal steps and time.',
          ['quality_peers.md'], 'python experiments/quality_at_equal_budget.py --peers',
          'python experiments/quality_at_equal_budget.py --report', seeds='1'),
    Study('compressive', 'Does compressing beat remembering at equal attention cost; which compression '
          'function and loss; and does attention rise into the compressed memory beyond a distance effect?',
          ['compressive/study.md', 'compressive/attention_buckets.md'],
          'python experiments/compressive_study.py run',
          'python experiments/compressive_study.py report', seeds='3'),
    Study('memory_depth', 'How many long-range layers does a transformer need, and where?',
          ['memory_depth/study.md'], 'python experiments/memory_depth_study.py run',
          'python experiments/memory_depth_study.py report', seeds='3'),
    Study('frequency_sort', 'Can each model count symbols over a long sequence (the ∞-former\'s task)?',
          ['frequency_sort/table.md'], 'python -m labml_memory.tasks.frequency_sort model=<name> length=<n>',
          'python -m labml_memory.tasks.frequency_sort report', seeds='1'),
    Study('benchmark', 'How fast does each architecture train and generate, against the public implementations?',
          ['benchmark.md'], 'python -m labml_memory.benchmark',
          no_report='a timing: its page is written by the run that measured it', seeds='rounds'),
    Study('infini_benchmark', 'How does our Infini-attention\'s speed and memory scale with length, against the port?',
          ['infini_attention/benchmark.md'], 'python -m labml_memory.infini_attention.benchmark',
          no_report='a timing: its page is written by the run that measured it', seeds='rounds'),
    Study('xl_attention_impl', 'Is the fused attention path of Transformer-XL faster than the explicit one?',
          ['transformer_xl/attention_impl.md'], 'python experiments/benchmark_xl_attention.py',
          no_report='a timing: its page is written by the run that measured it', seeds='repeats'),
]

RESULTS = Path('docs/results')


def by_name(name: str) -> Study:
    for study in STUDIES:
        if study.name == name:
            return study
    raise SystemExit(f"unknown study {name!r}; valid: {', '.join(s.name for s in STUDIES)} or all")


# ## Redrawing a page
#
# As its own process from the repository root, exactly as a reader would, rather than by
# importing the report function: the command on the page is then the thing under test, and a
# script under `experiments/` (not a package) needs no import path of its own. `cwd` lets the
# tests run it in a copy of the results, so a redraw never rewrites the committed pages.
def redraw(study: Study, cwd: Path = Path('.'), python: str = sys.executable, env=None) -> None:
    if not study.report:
        raise SystemExit(f"{study.name} cannot be redrawn: {study.no_report}")
    words = shlex.split(study.report)
    assert words[0] == 'python'
    done = subprocess.run([python] + words[1:], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{study.report} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


# ## The index page of Results
#
# Written from the list, never by hand, so the page and the registry cannot disagree (a test
# compares them). A study's question is the page's first line of reading: a student chooses a
# page by the question it answers.
def index() -> str:
    lines = ['# Results', '',
             'Every page here is written by one study from its saved records. Each answers one '
             'question; the table says which page, how many seeds stand behind each number, the '
             'command that measures and the one that redraws the page without training.', '',
             '| study | question | pages | seeds | measure | redraw |', '|---|---|---|---|---|---|']
    for s in STUDIES:
        pages = ', '.join(f'[{Path(p).stem.replace("_", " ")}]({p})' for p in s.pages)
        redraw_cell = f'`{s.report}`' if s.report else f'none: {s.no_report}'
        lines.append(f'| {s.name.replace("_", " ")} | {s.question} | {pages} | {s.seeds} | `{s.run}` | {redraw_cell} |')
    lines += ['', 'The list is kept in [labml_memory/studies](../../labml_memory/studies/__init__.py); '
              '`python -m labml_memory.studies index` rewrites this page from it.', '']
    return '\n'.join(lines)


# ## The command line
#
# No word lists the studies; `index` rewrites the Results index; `report <name>` or
# `report all` redraws pages, stopping at the first redraw that fails, with its output.
def main(argv: List[str]) -> None:
    if not argv:
        for s in STUDIES:
            print(f"{s.name:18s} {', '.join(s.pages)}\n{'':18s} measure: {s.run}\n{'':18s} redraw:  "
                  f"{s.report or 'none (' + s.no_report + ')'}")
        return
    if argv[0] == 'index':
        (RESULTS / 'index.md').write_text(index())
        return
    if argv[0] == 'report' and len(argv) == 2:
        chosen = [s for s in STUDIES if s.report] if argv[1] == 'all' else [by_name(argv[1])]
        for study in chosen:
            print(f'redrawing {study.name}: {study.report}', flush=True)
            redraw(study)
        return
    raise SystemExit("usage: python -m labml_memory.studies [index | report <study>|all]")


if __name__ == '__main__':
    main(sys.argv[1:])
