r"""
# Reading a run's logs

labml's file writer appends every tracked value to `log.jsonl` in the run's folder, one JSON
object per save: `{"track": {"loss.train": [[step, [value]], ...], ...}}`. The labml web app,
which would plot them, needs a MongoDB server; these few lines turn the file back into series,
which is all a notebook or a results page needs to draw its own plots.
"""

import json
from pathlib import Path
from typing import Dict, List, Tuple


def read_metrics(run_path: Path) -> Dict[str, List[Tuple[int, float]]]:
    """Every tracked name → its `(step, value)` pairs in step order."""
    log = Path(run_path) / 'log.jsonl'
    if not log.is_file():
        raise FileNotFoundError(f"no log.jsonl in {run_path}; was the run created with the file writer?")
    series: Dict[str, Dict[int, float]] = {}
    for line in log.read_text().splitlines():
        if not line.strip():
            continue
        for name, points in json.loads(line).get('track', {}).items():
            for step, values in points:
                # labml stores a list of values per step (several adds before a save); we keep their mean.
                series.setdefault(name, {})[int(step)] = sum(values) / len(values)
    return {name: sorted(points.items()) for name, points in series.items()}
