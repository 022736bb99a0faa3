r"""
Mutation testing of one model module: does the test suite notice when the code is wrong?

```
pip install -e '.[mutation]'
python tools/mutation.py transformer_xl          # one module, one worker
python tools/mutation.py --list                  # the modules it knows and their tests
python tools/mutation.py attention --show        # print every surviving mutant's diff too
python tools/mutation.py residual --at 8b2bf7b   # the code and tests of an older commit
python tools/mutation.py compressive --only 'labml_memory.compressive.analysis.*'   # some mutants
```

A mutant is the module with one small change (an operator swapped, a constant moved by one, a
call argument dropped). The module's tests run against each mutant: a failing test *kills*
it, a mutant that passes every test *survives* and shows a change the tests cannot see. Some
survivors are *equivalent* (the change does not alter behaviour, e.g. a default argument
passed explicitly); every other survivor is a missing test. The committed report,
`tests/MUTATION.md`, lists every survivor with its reason or the test that now kills it.

The tool is [mutmut](https://github.com/boxed/mutmut) 3.x. We chose it over cosmic-ray
because it needs no session database or distributor configuration: one `mutmut run` in a
scratch copy of the project, and it runs only the tests that reach each mutated function
(it records which tests call what), which keeps a run of a module to minutes on a CPU.

The run happens in a scratch directory (`/tmp/labml_memory_mutation/<module>` unless
`--workdir` says otherwise), never in the working tree: mutmut writes a `mutants/` copy and a
configuration of its own there. It runs with a single worker (`--max-children 1`) and one
thread per test process, because the suite shares small machines; `--workers` raises it.
This is a tool a developer runs, not part of CI.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Module name -> (files to mutate, tests that should notice). Each module is mutated alone,
# with the tests written for it and those of its direct users, so one run stays short.
MODULES = {
    'transformer_xl': (['labml_memory/transformer_xl/__init__.py'],
                       ['tests/test_transformer_xl.py', 'tests/test_memory_depth.py',
                        'tests/test_building_blocks.py']),
    'attention': (['labml_memory/attention.py'],
                  ['tests/test_building_blocks.py', 'tests/test_transformer_xl.py']),
    'positional': (['labml_memory/positional.py'],
                   ['tests/test_building_blocks.py', 'tests/test_transformer_xl.py']),
    'residual': (['labml_memory/residual.py'],
                 ['tests/test_building_blocks.py', 'tests/test_transformer_xl.py']),
    'memory_depth': (['labml_memory/memory_depth/__init__.py'], ['tests/test_memory_depth.py']),
    'compressive': (['labml_memory/compressive/__init__.py', 'labml_memory/compressive/compression.py',
                     'labml_memory/compressive/analysis.py'], ['tests/test_compressive.py']),
    'infinity_former': (['labml_memory/infinity_former/__init__.py',
                         'labml_memory/infinity_former/continuous.py'],
                        ['tests/test_infinity_former.py']),
    'infini_attention': (['labml_memory/infini_attention/__init__.py'],
                         ['tests/test_infini_attention.py']),
    # A task and the study that runs it are mutated together: the study's tests are the task's
    # heaviest users, and its page test reaches every line of the report.
    'passkey': (['labml_memory/tasks/passkey.py', 'labml_memory/studies/passkey.py'], ['tests/test_passkey.py']),
    'frequency_sort': (['labml_memory/tasks/frequency_sort.py', 'labml_memory/studies/frequency_sort.py'],
                       ['tests/test_frequency_sort.py', 'tests/test_sort_floor.py']),
    'synthetic': (['labml_memory/training/synthetic.py'],
                  ['tests/test_synthetic_loop.py', 'tests/test_passkey.py']),
}

# Tests that train through the whole command line, train a model to a threshold, or loop
# over thousands of segments: they reach every function, so mutmut would run them for every
# surviving mutant, and each takes seconds to tens of seconds. The model-level tests cover
# the same code directly; these are left to the ordinary suite (and the report lists them).
# The passkey and frequency-sort studies' tiny end-to-end runs are not here: at a few seconds
# each (the frequency-sort one no longer trains its default curriculum), they are what reaches
# a study's `execute` through the runner; nor are the compressive analysis's command-line tests
# (3 s), which reach its `main`.
SLOW_TESTS = ['test_experiment_runs', 'experiment_trains', 'ten_thousand',
              '1000_updates', 'learns', 'trains_through', 'state_size_is_fixed']
DESELECT = ['-k', ' and '.join(f'not {name}' for name in SLOW_TESTS)]


def configuration(sources, tests, extra_args) -> str:
    # mutmut 3 reads `[tool.mutmut]` from the pyproject.toml of the directory it runs in.
    args = ['-p', 'no:cacheprovider', '-q', '-x', '--timeout=300'] + DESELECT + list(extra_args)
    return '\n'.join([
        '[tool.mutmut]',
        'source_paths = ["labml_memory"]',
        f'only_mutate = {json.dumps(sources)}',
        f'tests_dir = {json.dumps(tests)}',
        # The studies' report tests redraw the committed pages from the committed records.
        'also_copy = ["docs/results"]',
        f'pytest_add_cli_args = {json.dumps(args)}',
        '',
        '[tool.pytest.ini_options]',
        'addopts = ""',
        '',
    ])


def prepare(workdir: Path, sources, tests, extra_args, at: str = '') -> None:
    # A fresh copy every run: the package and the tests as they are in the working tree now,
    # or, with `--at <commit>`, as they were at that commit (to measure a score before a change).
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    if at:
        archive = subprocess.run(['git', 'archive', at, 'labml_memory', 'tests', 'docs/results'], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(['tar', '-x', '-C', str(workdir)], input=archive, check=True)
    else:
        shutil.copytree(ROOT / 'labml_memory', workdir / 'labml_memory',
                        ignore=shutil.ignore_patterns('__pycache__'))
        shutil.copytree(ROOT / 'tests', workdir / 'tests', ignore=shutil.ignore_patterns('__pycache__'))
        shutil.copytree(ROOT / 'docs' / 'results', workdir / 'docs' / 'results')
    (workdir / 'pyproject.toml').write_text(configuration(sources, tests, extra_args))


def results(workdir: Path, env) -> dict:
    # `mutmut results --all true` prints one `name: status` line per mutant.
    out = subprocess.run([sys.executable, '-m', 'mutmut', 'results', '--all', 'true'], cwd=workdir,
                         env=env, capture_output=True, text=True, check=True).stdout
    status = {}
    for line in out.splitlines():
        match = re.match(r'\s*(\S+): (.+)$', line)
        if match:
            status[match.group(1)] = match.group(2).strip()
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[2])
    parser.add_argument('module', nargs='?', help=f'one of {sorted(MODULES)}')
    parser.add_argument('--list', action='store_true', help='list the modules and their tests')
    parser.add_argument('--workdir', type=Path, help='scratch directory (default /tmp/...)')
    parser.add_argument('--workers', type=int, default=1, help='parallel mutants (default 1)')
    parser.add_argument('--show', action='store_true', help="print every survivor's diff")
    parser.add_argument('--json', type=Path, help='also write the statuses to this file')
    parser.add_argument('--at', default='', help='mutate the code and tests of this git commit')
    parser.add_argument('--only', nargs='+', default=[], metavar='PATTERN',
                        help="run only the mutants whose names match these patterns "
                             "(fnmatch, e.g. 'labml_memory.compressive.analysis.*')")
    args, extra = parser.parse_known_args(argv)
    if args.list:
        for name, (sources, tests) in MODULES.items():
            print(f'{name}: {", ".join(sources)}  <-  {", ".join(tests)}')
        return 0
    if args.module not in MODULES:
        parser.error(f'unknown module {args.module!r}; valid: {sorted(MODULES)}')
    sources, tests = MODULES[args.module]
    workdir = args.workdir or Path('/tmp/labml_memory_mutation') / (args.module + (f'@{args.at}' if args.at else ''))
    prepare(workdir, sources, tests, extra, args.at)
    # One thread per test process: the machines these run on are shared.
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    run = subprocess.run([sys.executable, '-m', 'mutmut', 'run', '--max-children', str(args.workers)]
                         + list(args.only), cwd=workdir, env=env)
    if run.returncode not in (0, 1):
        print(f'mutmut run failed with exit status {run.returncode}', file=sys.stderr)
        return run.returncode
    status = results(workdir, env)
    if args.only:
        # mutmut lists every mutant it generated; the ones not run here have no verdict to count.
        import fnmatch
        status = {n: s for n, s in status.items() if any(fnmatch.fnmatch(n, p) for p in args.only)}
    killed = sum(s in ('killed', 'timeout') for s in status.values())
    survivors = sorted(n for n, s in status.items() if s == 'survived')
    other = sorted(f'{n} ({s})' for n, s in status.items() if s not in ('killed', 'timeout', 'survived'))
    print(f'\n{args.module}: {killed} killed of {len(status)} mutants; '
          f'{len(survivors)} survived; {len(other)} other')
    for name in other:
        print(f'  other: {name}')
    for name in survivors:
        print(f'  survived: {name}')
        if args.show:
            diff = subprocess.run([sys.executable, '-m', 'mutmut', 'show', name], cwd=workdir,
                                  env=env, capture_output=True, text=True).stdout
            print('    ' + diff.strip().replace('\n', '\n    '))
    if args.json:
        args.json.write_text(json.dumps(status, indent=1, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
