r"""
# Running the benchmark

`python -m labml_memory.benchmark [--tiny] [--out DIR] [--only a,b] [--hide module]`
runs the [harness](__init__.py): every architecture and every installed peer, one process
each, then the table, the plots and the results page. The same entry point, called with
`--worker NAME`, is what each of those processes runs.
"""
from labml_memory.benchmark import main

if __name__ == '__main__':
    main()
