"""Thin script: the benchmark lives in :mod:`chainrule.bench.stream` (so an installed user can run it too).

Same flags as ``python -m chainrule.bench.stream --help``; figures go to ``benchmarks/results/stream.json``
unless ``--out`` names another file. Not a test.
"""

import sys
from pathlib import Path

from chainrule.bench.stream import main

if __name__ == "__main__":
    sys.exit(main(default_out=str(Path(__file__).resolve().parent / "results" / "stream.json")))
