"""chainrule's benchmarks, runnable by an installed user: ``chainrule bench`` or ``python -m chainrule.bench.NAME``.

Every benchmark sets chainrule beside the same computation written by hand in
NumPy (the floor a framework is measured against) and, when installed, PyTorch
eager and scikit-learn; ratios are to the hand-written NumPy. The method
(medians, alternating blocks, the garbage collector paused in timed regions) is
shared and described in :mod:`chainrule.bench.common`.

* :mod:`~chainrule.bench.op_overhead` – the bookkeeping cost of one tiny op, forward + backward;
* :mod:`~chainrule.bench.linreg` – full-batch gradient descent to 1e-6 of the least-squares optimum;
* :mod:`~chainrule.bench.mlp_step` – one MLP training step, small to large, float32 and float64;
* :mod:`~chainrule.bench.memory` – peak memory of a training step, and no growth over many steps;
* :mod:`~chainrule.bench.hvp` – a Hessian-vector product of the MLP's loss (a recorded backward, differentiated);
* :mod:`~chainrule.bench.conv` – a Conv2d forward + backward and one step of the digits CNN.

Each module has ``run(preset)`` (``"tiny"``, ``"quick"``, ``"full"``) returning its
results as a JSON-ready dict, ``summary_rows(results)`` for the shared table,
``report(results)`` and ``main(argv)``. Only NumPy is required; PyTorch,
scikit-learn and threadpoolctl are used when installed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Short name (as ``chainrule bench --only`` takes it) -> module, in the order they run.
BENCHMARKS = {
    "op": "chainrule.bench.op_overhead",
    "linreg": "chainrule.bench.linreg",
    "mlp": "chainrule.bench.mlp_step",
    "memory": "chainrule.bench.memory",
    "hvp": "chainrule.bench.hvp",
    "conv": "chainrule.bench.conv",
}
#: The benchmarks that time code in this process, and so take ``allocator=`` (``memory`` runs each
#: contender in a fresh process of its own and sets malloc there).
TIMING = ("op", "linreg", "mlp", "hvp", "conv")
#: The JSON file each benchmark writes, as in ``benchmarks/results/``.
RESULT_FILES = {"op": "op_overhead.json", "linreg": "linreg.json", "mlp": "mlp_step.json", "memory": "memory.json",
                "hvp": "hvp.json", "conv": "conv2d.json"}


def module(name: str) -> ModuleType:
    """The benchmark module for a short name (``op``, ``linreg``, ``mlp``, ``memory``, ``hvp``, ``conv``)."""
    return importlib.import_module(BENCHMARKS[name])


__all__ = ["BENCHMARKS", "RESULT_FILES", "TIMING", "module"]
