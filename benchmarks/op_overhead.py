"""Thin script: the benchmark lives in :mod:`chainrule.bench.op_overhead` (so an installed user can run it too).

Same flags as ``python -m chainrule.bench.op_overhead --help``; figures go to ``benchmarks/results/op_overhead.json``
unless ``--out`` names another file. Not a test.
"""

import sys
from pathlib import Path

from chainrule.bench.op_overhead import main

if __name__ == "__main__":
    sys.exit(main(default_out=str(Path(__file__).resolve().parent / "results" / "op_overhead.json")))
