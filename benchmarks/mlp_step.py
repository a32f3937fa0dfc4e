"""Thin script: the benchmark lives in :mod:`chainrule.bench.mlp_step` (so an installed user can run it too).

Same flags as ``python -m chainrule.bench.mlp_step --help``; figures go to ``benchmarks/results/mlp_step.json``
unless ``--out`` names another file. Not a test. The hand-written floor is importable from here as before:
``from mlp_step import NumpyMLP`` (it is :class:`chainrule.bench.mlp_step.NumpyMLP`).
"""

import sys
from pathlib import Path

from chainrule.bench.mlp_step import NumpyMLP, main, torch_default_init

__all__ = ["NumpyMLP", "main", "torch_default_init"]

if __name__ == "__main__":
    sys.exit(main(default_out=str(Path(__file__).resolve().parent / "results" / "mlp_step.json")))
