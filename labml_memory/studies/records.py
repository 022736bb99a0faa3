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
