"""Per-op bookkeeping cost of chainrule's graph, against the floor and PyTorch eager.

A chain of tiny elementwise ops (add, mul, tanh in turn) on a (4, 4) float64
array, forward + backward. At this size the arithmetic is nearly free, so the
time per op is the framework's own overhead. Three contenders in one run:

* ``numpy``     hand-written NumPy with explicit caches (the floor);
* ``chainrule`` the same chain on Tensors, ``.backward()``;
* ``torch``     PyTorch eager, when installed.

Then a chain of 1,000,000 ops (chainrule against the NumPy loop).

Usage: ``python benchmarks/op_overhead.py [--quick] [--out benchmarks/results/op_overhead.json]``.
This is a benchmark, not a test: it asserts nothing and writes its figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import chainrule as cr

SHAPE = (4, 4)


def machine_facts() -> dict:
    facts = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        from threadpoolctl import threadpool_info

        facts["blas"] = [
            {k: info.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for info in threadpool_info()
        ]
    except ImportError:
        facts["blas"] = "threadpoolctl not installed"
    return facts


def numpy_chain(x0: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    """The floor: forward saving caches in a list, backward walking it in reverse."""
    caches = []
    x = x0
    for i in range(n):
        k = i % 3
        if k == 0:
            x = x + c
            caches.append(None)
        elif k == 1:
            caches.append(x)
            x = x * c
        else:
            x = np.tanh(x)
            caches.append(x)
    g = np.ones_like(x)
    for i in range(n - 1, -1, -1):
        k = i % 3
        if k == 1:
            g = g * c
        elif k == 2:
            y = caches[i]
            g = g * (1 - y * y)
    return g


def chainrule_chain(x0: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    x = cr.Tensor(x0, requires_grad=True)
    y = x
    for i in range(n):
        k = i % 3
        if k == 0:
            y = y + c
        elif k == 1:
            y = y * c
        else:
            y = y.tanh()
    y.backward(np.ones_like(x0))
    return x.grad


def torch_chain_factory():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)

    def torch_chain(x0: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
        x = torch.tensor(x0, requires_grad=True)
        ct = torch.tensor(c)
        y = x
        for i in range(n):
            k = i % 3
            if k == 0:
                y = y + ct
            elif k == 1:
                y = y * ct
            else:
                y = torch.tanh(y)
        y.backward(torch.ones_like(x))
        return x.grad.numpy()

    return torch_chain


def time_per_op(fn, x0, c, n: int, repeats: int) -> float:
    """Median seconds per op over ``repeats`` runs of an ``n``-op chain."""
    fn(x0, c, n)  # warm up
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn(x0, c, n)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / n


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 100,000-op long chain")
    parser.add_argument("--out", default="benchmarks/results/op_overhead.json")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(SHAPE)
    c = rng.uniform(0.5, 1.0, SHAPE)
    repeats = 5 if args.quick else 21
    contenders = {"numpy": numpy_chain, "chainrule": chainrule_chain}
    torch_chain = torch_chain_factory()
    if torch_chain is not None:
        contenders["torch"] = torch_chain

    # Same answer first: a benchmark of wrong numbers is worthless.
    ref = numpy_chain(x0, c, 300)
    for name, fn in contenders.items():
        np.testing.assert_allclose(fn(x0, c, 300), ref, rtol=1e-10, err_msg=name)

    short = {name: time_per_op(fn, x0, c, 1000, repeats) for name, fn in contenders.items()}
    n_long = 100_000 if args.quick else 1_000_000
    long = {
        name: time_per_op(fn, x0, c, n_long, 1 if args.quick else 3)
        for name, fn in contenders.items()
        if name != "torch"
    }
    floor = short["numpy"]
    results = {
        "benchmark": "op_overhead",
        "machine": machine_facts(),
        "chain_1000_us_per_op": {k: v * 1e6 for k, v in short.items()},
        "chain_1000_ratio_to_numpy": {k: v / floor for k, v in short.items()},
        f"chain_{n_long}_us_per_op": {k: v * 1e6 for k, v in long.items()},
        f"chain_{n_long}_ratio_to_numpy": {k: v / long["numpy"] for k, v in long.items()},
    }
    if "torch" in short:
        results["chainrule_over_torch"] = short["chainrule"] / short["torch"]

    print(f"{'1,000-op chain, (4, 4) float64':<34}{'us/op':>10}{'x numpy':>10}")
    for name, v in short.items():
        print(f"  {name:<32}{v * 1e6:>10.2f}{v / floor:>10.2f}")
    if "torch" in short:
        print(f"  chainrule / torch eager: {results['chainrule_over_torch']:.2f}")
    print(f"{f'{n_long:,}-op chain':<34}{'us/op':>10}{'x numpy':>10}")
    for name, v in long.items():
        print(f"  {name:<32}{v * 1e6:>10.2f}{v / long['numpy']:>10.2f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"figures written to {out}")
    return results


if __name__ == "__main__":
    main()
