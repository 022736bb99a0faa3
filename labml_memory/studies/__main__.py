# `python -m labml_memory.studies`: see the package's page.
import sys

from labml_memory.studies import main

main(sys.argv[1:])
