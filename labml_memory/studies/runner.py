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
* **report(records, out)**: writes its page(s) under `out` from the records alone: the plot
  first, then the tables, then how it was made. It never trains.

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
* after the runs, the page is rewritten from every record, old and new.
"""
import dataclasses
import json
import shlex
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

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


def report(study: Study, results: Path = RESULTS) -> None:
    records = Records(folder_of(study, results))
    if not len(records) and not records.history:
        raise SystemExit(f"{study.name}: no records under {folder_of(study, results) / 'records'}; "
                         f"run it first: {study.run_command}")
    study.report(records, Path(results))
