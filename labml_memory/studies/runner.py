r"""
# The study runner: settings → plan → records → page

Every results page is made by the same small machine. A study is one module under
`labml_memory/studies/` that defines a `STUDY`, made of four things:

* **settings**: a dataclass whose fields and defaults are the study's command line. The same
  `key=value` parser as the experiments reads it, so a field declared `List[int]` accepts
  `seeds=0,1,2` and an unknown key fails and lists the valid ones. What a study declares
  before it runs (its seeds, its equivalence margin) is a setting, recorded with every run.
* **plan(settings)**: the runs it needs, each a `Run` with a stable key (the record's file
  name) and the settings of that one run, in plain JSON values.
* **execute(run)**: trains or measures one run and returns its record, a dictionary.
* **report(records, out)**: makes its page(s) from the records alone, and returns them as
  [`Page`](#one-template-for-every-page)s keyed by their path under `docs/results/`; the
  runner writes them, every one in the same order. It never trains.

The runner does the rest, the same way for every study:

```
docs/results/NAME.md                    the page (report writes it; more pages go in NAME/)
docs/results/NAME/records/KEY.json      one record per run
docs/results/NAME/history/WHY/*.json    superseded records, kept and shown as history
```

* a run whose record exists is skipped, and a run is claimed by a lock before it starts
  ([one record per run](records.py)), so an interrupted study resumes where it stopped and two
  workers share one plan;
* every record gets the same provenance: the study, the run's key and settings, the command
  that made it, the machine and date, and the wall time of `execute`;
* after the runs, the page is rewritten from every record, old and new;
* every page is written by one template ([below](#one-template-for-every-page)), so a reader
  finds the same things in the same places on every results page.
"""
import dataclasses
import json
import re
import shlex
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from labml_memory.studies.records import run_missing
from labml_memory.training.config import _parse_value

RESULTS = Path('docs/results')


# ## A run and a study
@dataclass(frozen=True)
class Run:
    # The record's file name without `.json`: stable across sessions, so a rerun of the same
    # plan finds what is recorded. Only letters, digits, `_`, `-` and `.`.
    key: str
    # What this run does, as plain JSON values (it is stored in the record).
    settings: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.key or any(not (c.isalnum() or c in '_-.') for c in self.key):
            raise ValueError(f"run key {self.key!r}: use letters, digits, '_', '-' and '.' only")


@dataclass(frozen=True)
class Study:
    name: str
    question: str
    settings: type
    plan: Callable[[Any], List[Run]]
    execute: Callable[[Run], Dict[str, Any]]
    report: Callable[['Records', Path], None]
    # The pages `report` writes, relative to `docs/results/`: `NAME.md` first.
    pages: List[str]
    # What stands behind each number ("3 seeds", "5 rounds"), for the index.
    seeds: str = ''
    # Other studies whose records its pages also read (a section made from them): their
    # reports' numbers then appear on its pages too, and its pages must be redrawn after theirs.
    reads: Tuple[str, ...] = ()

    @property
    def run_command(self) -> str:
        return f'python -m labml_memory.studies run {self.name}'

    @property
    def report_command(self) -> str:
        return f'python -m labml_memory.studies report {self.name}'


# ## Reading the records of a study
#
# `runs` pairs each record with its file, sorted by key; `history` holds the superseded
# records by the folder that says why they were superseded. A report reads only these.
class Records:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.runs: List[Tuple[Dict[str, Any], Path]] = _read(self.folder / 'records')
        self.history: Dict[str, List[Tuple[Dict[str, Any], Path]]] = {
            d.name: _read(d) for d in sorted((self.folder / 'history').glob('*')) if d.is_dir()}

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return (record for record, _ in self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def keys(self) -> List[str]:
        return [path.stem for _, path in self.runs]

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        for record, path in self.runs:
            if path.stem == key:
                return record
        return None


def _read(folder: Path) -> List[Tuple[Dict[str, Any], Path]]:
    found = []
    for path in sorted(folder.glob('*.json')) if folder.exists() else []:
        try:
            found.append((json.loads(path.read_text()), path))
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}: not a readable record ({error.msg} at line {error.lineno}); "
                             f"move it away or rerun its run") from None
    return found


# ## Settings from the command line
#
# The dataclass is the schema, as for the experiments. Values are parsed with the field's
# declared type; a settings class may define `validate()` to check a combination.
def parse_settings(cls: type, argv: Sequence[str]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for word in argv:
        key, eq, raw = word.partition('=')
        if not eq:
            raise SystemExit(f"argument {word!r} is not of the form key=value; valid keys: "
                             f"{', '.join(fields)}")
        if key not in fields:
            raise SystemExit(f"unknown setting {key!r}; valid: {', '.join(fields)}")
        try:
            values[key] = _parse_value(key, raw, hints[key], fields[key].default)
        except ValueError as error:
            raise SystemExit(str(error)) from None
    settings = cls(**values)
    if hasattr(settings, 'validate'):
        try:
            settings.validate()
        except ValueError as error:
            raise SystemExit(str(error)) from None
    return settings


# ## Running a study
def folder_of(study: Study, results: Path = RESULTS) -> Path:
    return Path(results) / study.name


def command_of(study: Study, argv: Sequence[str]) -> str:
    return ' '.join([study.run_command, *(shlex.quote(a) for a in argv)])


def pending(study: Study, settings: Any, results: Path = RESULTS) -> List[Run]:
    """The planned runs that have no record yet."""
    records = folder_of(study, results) / 'records'
    return [run for run in study.plan(settings) if not (records / f'{run.key}.json').exists()]


def run(study: Study, argv: Sequence[str] = (), results: Path = RESULTS,
        log: Callable[[str], None] = print) -> List[str]:
    settings = parse_settings(study.settings, argv)
    runs = study.plan(settings)
    keys = [r.key for r in runs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{study.name}: the plan names a run twice: "
                         f"{sorted({k for k in keys if keys.count(k) > 1})}")
    command = command_of(study, argv)

    def job(one: Run):
        def go() -> Dict[str, Any]:
            from labml_memory.training import provenance
            log(f'{study.name}: running {one.key}')
            started = time.time()
            record = study.execute(one)
            record.setdefault('seconds', time.time() - started)
            return {'study': study.name, 'key': one.key, 'run': one.settings, **record,
                    'command': record.get('command', command),
                    'machine': record.get('machine', provenance.machine())}
        return one.key, go

    folder = folder_of(study, results)
    done = run_missing([job(one) for one in runs], folder / 'records', log=log)
    for key in done:
        log(f'{study.name}: recorded {key}')
    report(study, results)
    return done


# ## One template for every page
#
# A study's report returns its pages; the runner writes each one in the same order, so a
# reader finds the same thing in the same place on every results page:
#
# 1. the **title**;
# 2. the **verdict**: one paragraph, what the page found, with the question it answers;
# 3. the **plots**;
# 4. what was run, in a sentence or two, if the plot needs it;
# 5. **what the numbers mean**, said once: a table cell and the small type under it, a
#    comparison and its bracket, the four verdict words;
# 6. the **tables**, each with its columns defined under it, then the reading and its verdicts;
# 7. **how it was made**, folded away: the commands, the machine, the date, the seeds and the
#    wall time, each always present.
#
# `render` refuses a page that lacks one of those parts or that would print a raw failure (an
# exception's class name, `Error:`, a traceback): a row that did not run says why in words.
@dataclass(frozen=True)
class Convention:
    # What a table cell is, and the small type under it; empty where the page has no cells
    # over seeds or rounds.
    cells: str = ''
    # The page's comparisons: how many (0 for none), the declared margin and its unit, what
    # is paired (seeds, or rounds of a timing), and whether a difference of logarithms is
    # printed back as a ratio. `example` is one comparison as the page prints it.
    comparisons: int = 0
    margin: float = 0.0
    unit: str = ''
    pairs: str = 'seeds'
    ratio: bool = False
    example: str = ''


# The cell of most pages, said once.
SEED_CELLS = ('A table cell is the mean over seeds, with the lowest and highest seed in small type '
              'under it (one number where they agree to the digits shown); in the text such a range '
              'follows the mean in parentheses: mean (lowest–highest).')


@dataclass(frozen=True)
class Page:
    title: str
    verdict: str
    # `(path from the page, what it shows)` for each plot, in the order they are shown.
    figures: Sequence[Tuple[str, str]]
    # Markdown lines: the tables with their columns defined, then the reading.
    body: Sequence[str]
    # Markdown lines for the folded block: a code block of the command(s), then the
    # `* **Machine:**`, `* **Date:**`, `* **Seeds:**` and `* **Wall time:**` items and any more.
    made: Sequence[str]
    about: str = ''
    convention: Optional[Convention] = None


MADE_ITEMS = ('Machine', 'Date', 'Seeds', 'Wall time')
MADE_TITLE = 'How it was made'
# What a page must never print: the words of a failure rather than its meaning.
FAILURE_TEXT = re.compile(r"Traceback \(most recent call last\)|\bError:|\bException\b|"
                          r"\b[A-Z]\w*(?:Error|Exception|Unavailable|Warning|Interrupt|Exit|Iteration)\b")


def failure_text(text: str) -> Optional[str]:
    """The first raw failure a page would print, or None."""
    found = FAILURE_TEXT.search(text)
    return found.group(0) if found else None


def stats_link(where: str) -> str:
    """The statistics page as a link from the page `where` (relative to docs/results/)."""
    return '../' * (1 + where.count('/')) + 'studies/stats.md'


def reading_the_numbers(convention: Convention, where: str) -> str:
    from labml_memory.studies import stats
    parts = [convention.cells] if convention.cells else []
    if convention.comparisons:
        parts.append(stats.convention(convention.margin, convention.comparisons, convention.unit,
                                      link=stats_link(where), pairs=convention.pairs,
                                      ratio=convention.ratio, example=convention.example))
    return '**Reading the numbers.** ' + ' '.join(parts) if parts else ''


def check(page: Page, where: str) -> None:
    problem = None
    if not page.title or not page.verdict or '\n' in page.verdict:
        problem = 'a title and a one-paragraph verdict'
    made = '\n'.join(page.made)
    fenced = re.search(r"^```[^\n]*\n(.*?)^```", made, re.S | re.M)
    if not fenced or not fenced.group(1).strip():
        problem = problem or 'the command(s) that made it, in a code block'
    missing = [item for item in MADE_ITEMS if f'* **{item}:**' not in made]
    if missing:
        problem = problem or f"how it was made: {', '.join(missing)}"
    if any(line.startswith('## How these numbers were made') for line in list(page.body) + list(page.made)):
        problem = problem or 'the provenance inside the folded block only (no heading of its own)'
    if problem:
        raise ValueError(f"{where}: a results page needs {problem}")


def render(page: Page, where: str) -> str:
    """The page's Markdown; `where` is its path under docs/results/."""
    check(page, where)
    lines = [f'# {page.title}', '', page.verdict, '{: .lit-verdict }', '']
    for path, alt in page.figures:
        lines += [f'![{alt}]({path})', '']
    if page.about:
        lines += [page.about, '']
    if page.convention and reading_the_numbers(page.convention, where):
        lines += [reading_the_numbers(page.convention, where), '']
    body = list(page.body)
    while body and not body[-1]:
        body.pop()
    lines += body + ['', f'??? note "{MADE_TITLE}"', '']
    made = list(page.made)
    while made and not made[-1]:
        made.pop()
    lines += [f'    {line}' if line else '' for line in made]
    text = '\n'.join(lines) + '\n'
    failed = failure_text(text)
    if failed:
        raise ValueError(f"{where}: the page would print {failed!r}; say in words why a row is empty "
                         f"(see `why_not_run`)")
    return text


# The shared provenance section (`training/provenance.py`) opens with a heading of its own;
# in the folded block the block's title is the heading.
def unheaded(lines: Sequence[str]) -> List[str]:
    lines = list(lines)
    if lines and lines[0].startswith('## '):
        lines = lines[1:]
    while lines and not lines[0]:
        lines = lines[1:]
    return lines


def write_pages(pages: Mapping[str, Page], results: Path = RESULTS) -> None:
    for where, page in pages.items():
        text = render(page, where)
        path = Path(results) / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# ## Why a row is empty, in words
#
# A record keeps the error as it was raised; a page says what it means.
def why_not_run(error: str) -> str:
    error = str(error)
    if any(word in error for word in ('does not import', 'ModuleNotFoundError', 'ImportError', 'No module named')):
        return 'not run: the package does not install here'
    if error.startswith('failed in training'):
        return 'failed while training: the error is in its record'
    if error.startswith('failed in inference'):
        return 'failed while generating: the error is in its record'
    if error.startswith(('PeerUnavailable', 'unavailable')):
        return 'not run: the package cannot be built at the shared sizes'
    return 'failed: the error is in its record'


# ## The headline's count of verdicts
#
# "three seeds resolve one of the page's 14 comparisons": how much of a page the seeds decide.
WORDS = ('no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten')


def number(n: int) -> str:
    return WORDS[n] if 0 <= n < len(WORDS) else f'{n:,}'


def tally(verdicts: Mapping[str, Any], pairs: str = 'seeds') -> str:
    found = list(verdicts.values())
    if not found:
        return ''
    counts = sorted({v.seeds for v in found})
    many = number(counts[0]) if len(counts) == 1 else f"{number(counts[0])} to {number(counts[-1])}"
    who = f"one {pairs[:-1]}" if counts == [1] else f"{many} {pairs}"
    decided = [v for v in found if v.verdict != 'not resolved']
    kinds = {}
    for v in decided:
        kinds[v.verdict] = kinds.get(v.verdict, 0) + 1
    said = f" ({', '.join(f'{n} {w}' for w, n in kinds.items())})" if kinds else ''
    total = "the page's one comparison" if len(found) == 1 else f"the page's {len(found)} comparisons"
    resolved = number(len(decided)) if decided else 'none'
    return f"{who} resolve{'s' if counts == [1] else ''} {resolved} of {total}{said}"


def report(study: Study, results: Path = RESULTS) -> None:
    records = Records(folder_of(study, results))
    if not len(records) and not records.history:
        raise SystemExit(f"{study.name}: no records under {folder_of(study, results) / 'records'}; "
                         f"run it first: {study.run_command}")
    pages = study.report(records, Path(results))
    # A study that writes its own files (a test's toy) returns nothing; the studies of the
    # project return their pages: the first one always, the others where the records hold
    # what they show.
    if pages is not None:
        if study.pages[0] not in pages or not set(pages) <= set(study.pages):
            raise ValueError(f"{study.name}: report made {sorted(pages)}, the study declares {sorted(study.pages)}")
        write_pages(pages, Path(results))
