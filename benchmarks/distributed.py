"""Thin script: the benchmark lives in :mod:`chainrule.bench.distributed` (so an installed user can run it too).

Same flags as ``python -m chainrule.bench.distributed --help``; figures go to
``benchmarks/results/distributed.json`` unless ``--out`` names another file. Not a test.
"""

import sys
from pathlib import Path

from chainrule.bench.distributed import main

if __name__ == "__main__":
    sys.exit(main(default_out=str(Path(__file__).resolve().parent / "results" / "distributed.json")))
