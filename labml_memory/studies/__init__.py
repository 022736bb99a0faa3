r"""
# Studies: every results page, the question it answers and the one command behind it

Each page under Results is written by one study from that study's saved records, and every
study runs on the same [runner](runner.py): typed settings, a plan of runs with stable keys
(what is recorded is skipped, so an interrupted study resumes), one record per run with the
same provenance, and a report that rebuilds the page from the records without training. The
verdicts on every page come from one [statistics module](stats.py): seeds paired by design,
Holm's correction across a page, and an equivalence margin declared before the runs.

```
python -m labml_memory.studies list                          # every study, its question and pages
python -m labml_memory.studies plan memory_depth seeds=0     # the runs it would do, and which are recorded
python -m labml_memory.studies run memory_depth seeds=0,1,2  # run what is missing, then rewrite the page
python -m labml_memory.studies report memory_depth           # rewrite the page from the records only
python -m labml_memory.studies report all                    # every page
python -m labml_memory.studies index                         # docs/results/index.md from this list
```

`run NAME --help` (or `plan NAME --help`) lists a study's settings with their defaults.
"""
import importlib
import sys
from pathlib import Path
from typing import List

from labml_memory.studies.runner import RESULTS, Study, parse_settings, pending, report, run

# The studies, in the order the Results index lists them: what the memories can do (the
# synthetic tasks), what they are worth on text, how they are built, how fast they run.
STUDY_MODULES = ['memory_reach', 'passkey', 'frequency_sort', 'quality', 'quality_peers', 'compressive',
                 'memory_depth', 'infinity_former_figures', 'benchmark', 'infini_benchmark',
                 'xl_attention_impl', 'echo']


def studies() -> List[Study]:
    return [importlib.import_module(f'labml_memory.studies.{name}').STUDY for name in STUDY_MODULES]


def readers_of(study: Study) -> List[Study]:
    """The studies whose pages read `study`'s records too (their `reads`)."""
    return [other for other in studies() if study.name in other.reads]


def by_name(name: str) -> Study:
    if name in STUDY_MODULES:
        return importlib.import_module(f'labml_memory.studies.{name}').STUDY
    raise SystemExit(f"unknown study {name!r}; valid: {', '.join(STUDY_MODULES)}")


# ## The index page of Results
#
# Written from the list, never by hand, so the page and the registry cannot disagree (a test
# compares them). A study's question is the page's first line of reading: a student chooses a
# page by the question it answers.
def index() -> str:
    lines = ['# Results', '',
             'Every page here is written by one study from its saved records. Each answers one '
             'question; the table says which page, what stands behind each number, and the command '
             'that measures it. `python -m labml_memory.studies report NAME` rebuilds a page from '
             'its records without training.', '',
             '| study | question | pages | seeds | measure |', '|---|---|---|---|---|']
    for s in studies():
        pages = ', '.join(f'[{Path(p).stem.replace("_", " ")}]({p})' for p in s.pages)
        lines.append(f'| {s.name.replace("_", " ")} | {s.question} | {pages} | {s.seeds} | `{s.run_command}` |')
    lines += ['', 'The list is kept in [studies](../studies/index.md); '
              '`python -m labml_memory.studies index` rewrites this page from it.', '']
    return '\n'.join(lines)


def _help(study: Study) -> str:
    # The defaults as a user would type them back: lists joined by commas.
    defaults = vars(study.settings())
    rows = [f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in defaults.items()]
    return f"{study.name}: {study.question}\nsettings: " + ' '.join(rows)


USAGE = ("usage: python -m labml_memory.studies list | plan NAME [key=value ...] | "
         "run NAME [key=value ...] | report NAME|all | index")


# ## The command line
def main(argv: List[str]) -> None:
    if not argv or argv[0] in ('-h', '--help'):
        raise SystemExit(USAGE)
    action, rest = argv[0], argv[1:]
    if action == 'list':
        for s in studies():
            print(f"{s.name:24s} {s.question}\n{'':24s} pages: {', '.join(s.pages)}   ({s.seeds})")
        return
    if action == 'index':
        (RESULTS / 'index.md').write_text(index())
        return
    if action in ('plan', 'run', 'report') and not rest:
        raise SystemExit(f"{action} needs a study name; valid: {', '.join(STUDY_MODULES)}"
                         + (' or all' if action == 'report' else ''))
    if action == 'report':
        chosen = studies() if rest[0] == 'all' else [by_name(rest[0])]
        if len(rest) > 1:
            raise SystemExit(f"report takes no settings (it only reads records); got {' '.join(rest[1:])}")
        for study in chosen + (readers_of(chosen[0]) if rest[0] != 'all' else []):
            print(f'report {study.name}', flush=True)
            report(study)
        return
    if action in ('plan', 'run'):
        study = by_name(rest[0])
        if '--help' in rest or '-h' in rest:
            print(_help(study))
            return
        if action == 'plan':
            settings = parse_settings(study.settings, rest[1:])
            missing = {r.key for r in pending(study, settings)}
            for one in study.plan(settings):
                print(f"{'to run  ' if one.key in missing else 'recorded'} {one.key}")
            return
        run(study, rest[1:])
        # Pages that carry a section made from this study's records are redrawn with them.
        for reader in readers_of(study):
            print(f'report {reader.name}', flush=True)
            report(reader)
        return
    raise SystemExit(f"unknown action {action!r}. {USAGE}")


if __name__ == '__main__':
    main(sys.argv[1:])
