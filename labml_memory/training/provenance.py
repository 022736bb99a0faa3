r"""
# Where and when a result was measured

Every results page ends with how its numbers were made: the command, the machine, the date,
the seeds and the wall time. A run writes the first of those into its record when it finishes
(`machine()`); the reports read them back with `section()`, which writes the closing part of
a page the same way for every study.

Records written before runs stored their machine and date still have an honest answer: the
date is the day the record was committed (from `git log`), and the page says that the machine
was not recorded rather than guessing one.
"""

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import torch


# ## The machine, recorded with the run
#
# The CPU model as `/proc/cpuinfo` names it (Python's `platform` often says only `x86_64`),
# the cores, the torch version, the date, and the load average when the run finished: a
# wall time from a machine with a load of 4 on 2 cores says little about the model.
def machine() -> Dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    if torch.cuda.is_available():
        cpu += f", GPU {torch.cuda.get_device_name(0)}"
    return {'cpu': cpu, 'cores': os.cpu_count(), 'torch': torch.__version__,
            'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
            'load': ', '.join(f'{x:.1f}' for x in os.getloadavg())}


def describe(record: Optional[Dict[str, Any]]) -> str:
    """One line for a machine record, or what is known when there is none."""
    if not record:
        return 'not recorded'
    load = f", load average {record['load']}" if record.get('load') else ''
    return f"{record['cpu']}, {record['cores']} cores, torch {record['torch']}{load}"


# ## The date, for records that lack one
#
# The last commit that touched the record is when its numbers entered the repository; a run
# is never committed before it finished, so this is a day on or after the measurement.
def committed_date(path: Path) -> Optional[str]:
    path = Path(path).resolve()
    try:
        done = subprocess.run(['git', 'log', '-1', '--format=%cs', '--', path.name],
                              cwd=path.parent, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def date_of(record: Dict[str, Any], path: Path) -> str:
    machine_record = record.get('machine') or {}
    if machine_record.get('date'):
        return machine_record['date']
    committed = committed_date(path)
    return f"{committed} (the day the record was committed; the run did not store its date)" \
        if committed else 'not recorded'


# ## The closing section of a results page
#
# `runs` pairs each record with the file it came from. Commands are listed one per line in a
# code block (they are long, and a reader copies them); the machine, date, seeds and wall time
# are collapsed to one line each when every run agrees, and listed per run when not.
# `label` names a run in the list of wall times.
def section(runs: Sequence[tuple], label: Callable[[Dict[str, Any]], str] = lambda r: r['name'],
            seconds: str = 'train_seconds', seeds: Iterable[Any] = (),
            extra: Sequence[str] = ()) -> List[str]:
    lines = ['## How these numbers were made', '']
    lines += ['Every run, as it was launched (each writes its own record; the report only '
              'reads the records, so the page is rebuilt without retraining):', '', '```']
    lines += [record['command'] for record, _ in runs] + ['```', '']
    # The machine without its load, once per distinct machine; the loads, which differ from run
    # to run, as one range; more than three dates as the first and the last.
    machines = sorted({describe({k: v for k, v in record['machine'].items() if k != 'load'})
                       if record.get('machine') else describe(None) for record, _ in runs})
    loads = [float(record['machine']['load'].split(',')[0]) for record, _ in runs
             if (record.get('machine') or {}).get('load')]
    dates = sorted({date_of(record, path) for record, path in runs})
    lines.append(f"* **Machine:** {machines[0] if len(machines) == 1 else '; '.join(machines)}"
                 + ('' if any(record.get('machine') for record, _ in runs) else
                    ' in these records (they predate the field); the project measured on a '
                    'shared two-core x86_64 CPU machine then')
                 + (f"; one-minute load average {min(loads):.1f} to {max(loads):.1f} as the runs ended"
                    if len(loads) > 1 else (f"; load average {loads[0]:.1f}" if loads else '')))
    date_text = dates[0] if len(dates) == 1 else (
        '; '.join(dates) if len(dates) <= 3 else f"{dates[0]} to {dates[-1]} ({len(runs)} runs)")
    lines.append(f"* **Date:** {date_text}")
    seed_list = sorted({str(s) for s in seeds})
    if seed_list:
        lines.append(f"* **Seeds:** {', '.join(seed_list)} (one training seed per run)")
    total = sum(float(record.get(seconds) or 0) for record, _ in runs)
    per_run = ', '.join(f"{label(record)} {float(record.get(seconds) or 0):.0f} s" for record, _ in runs)
    lines.append(f"* **Wall time:** {total:,.0f} s of training in all ({per_run}); the machine "
                 "was shared with other jobs, so these are upper bounds")
    lines += list(extra)
    return lines + ['']
