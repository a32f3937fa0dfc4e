"""Thin script: the benchmark lives in :mod:`chainrule.bench.distributed` (so an installed user can run it too).
Not named ``distributed.py``: run as a script, it would hide the ``distributed`` package.

Same flags as ``python -m chainrule.bench.distributed --help``; figures go to
``benchmarks/results/dask_scaling.json`` unless ``--out`` names another file. Not a test.
"""

import sys
from pathlib import Path

from chainrule.bench.distributed import main

if __name__ == "__main__":
    sys.exit(main(default_out=str(Path(__file__).resolve().parent / "results" / "dask_scaling.json")))
