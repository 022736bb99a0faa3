r"""
# Running the benchmark

The benchmark is a study on the [runner](../studies/runner.py) now, with typed settings
instead of flags; this entry point only says so, with the command to use.
"""
import sys

if __name__ == '__main__':
    print("The benchmark runs as a study:\n"
          "  python -m labml_memory.studies run benchmark [size=tiny] [rounds=3] [threads=1] "
          "[only=a,b] [hide=module] [margin=0.05]\n"
          "  python -m labml_memory.studies report benchmark", file=sys.stderr)
    raise SystemExit(2)
