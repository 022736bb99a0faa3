r"""
# One record per run, claimed by a lock

A study is a list of runs, each of which writes one JSON record when it is done. This is the
loop every seeded study shares:

* a run whose record exists is skipped, so a stopped study resumes where it stopped and
  loses at most the run in progress;
* a run is claimed by creating `locks/<key>` first (`mkdir` either creates or fails, in one
  step), so two workers started on the same list share it without running anything twice;
* the record is written to a temporary name and renamed into place, so a reader never sees
  half a record.

A worker that is killed leaves its lock behind; `clear_stale_locks` removes the locks of runs
that have no record once no worker is running.
"""
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Tuple


def run_missing(jobs: Iterable[Tuple[str, Callable[[], Dict[str, Any]]]], records: Path,
                log: Callable[[str], None] = print) -> List[str]:
    """Run every job whose record `<key>.json` is missing; return the keys run here."""
    records = Path(records)
    done = []
    for key, job in jobs:
        path = records / f'{key}.json'
        if path.exists():
            continue
        # `mkdir` is the claim: it either creates the folder or fails because another worker
        # did, in one step, so two workers never both decide a run is theirs.
        lock = records / 'locks' / key
        try:
            lock.mkdir(parents=True)
        except FileExistsError:
            log(f'{key}: another worker has it')
            continue
        try:
            record = job()
            # Written beside its final name, then renamed: a rename within one folder is
            # atomic, so a worker or a report reading the folder sees a whole record or none.
            partial = path.with_suffix('.json.partial')
            partial.write_text(json.dumps(record, indent=1))
            os.replace(partial, path)
            done.append(key)
        finally:
            # Released whether the run finished or failed: a failed run has no record, so the
            # next worker, or a rerun, takes it again.
            lock.rmdir()
    return done


def clear_stale_locks(records: Path) -> List[str]:
    """Remove the locks left by killed workers (run only when no worker is running)."""
    locks = Path(records) / 'locks'
    cleared = []
    for lock in sorted(locks.glob('*')) if locks.exists() else []:
        if not (Path(records) / f'{lock.name}.json').exists():
            lock.rmdir()
            cleared.append(lock.name)
    return cleared


# ## A study's command line
#
# `key=value` words over a study's defaults; a word that names no setting fails with the list
# of valid ones. Seeds come back as a list of integers, since every seeded study takes them.
def settings(argv: Iterable[str], defaults: Dict[str, Any]) -> Dict[str, Any]:
    chosen = dict(defaults)
    for arg in argv:
        key, eq, value = arg.partition('=')
        if key not in chosen or not eq:
            raise SystemExit(f"unknown setting {arg!r}; valid: {', '.join(f'{k}=' for k in defaults)}")
        chosen[key] = value
    if 'seeds' in chosen:
        chosen['seeds'] = [int(s) for s in str(chosen['seeds']).split(',') if s != '']
    return chosen


def load(records: Path, pattern: str = '*.json') -> List[Dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in sorted(Path(records).glob(pattern))]
    if not found:
        raise SystemExit(f"no records ({pattern}) under {records}; run the study first")
    return found


# The records of a seeded study, by run name, each name's seeds in order.
def by_name(records: Path, pattern: str = '*_seed*.json') -> Dict[str, List[Dict[str, Any]]]:
    runs: Dict[str, List[Dict[str, Any]]] = {}
    for record in load(records, pattern):
        runs.setdefault(record['name'], []).append(record)
    return {name: sorted(rs, key=lambda r: r['seed']) for name, rs in runs.items()}
