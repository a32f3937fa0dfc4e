"""``chainrule demo``: the lecture, run end to end on real numbers."""

from __future__ import annotations

import argparse

import numpy as np

from ..lecture import linreg_three_ways, make_problem


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the lecture end to end: gradients three ways, then training",
        description="The lecture's linear regression gradient computed by hand with the op "
        "blocks, through Tensor, and by finite differences, side by side.",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random problem (default 0)")
    p.set_defaults(func=run)


def three_ways_section(seed: int) -> str:
    X, Y, theta = make_problem(seed=seed)
    r = linreg_three_ways(X, Y, theta)
    lines = [
        "Linear regression, the lecture's way: μ = Xθ, Δ = μ − Y, L = ΣΔ²",
        f"  X is {X.shape[0]}×{X.shape[1]}, θ ~ N(0, 1) = {np.array2string(theta, precision=4)}",
        f"  L = {r.loss:.6f}",
        "",
        "  dL/dθ computed three ways (and by the formula 2Xᵀ(Xθ − Y)):",
        f"  {'j':>3}  {'by hand (blocks)':>18}  {'Tensor.backward':>18}  "
        f"{'finite differences':>18}  {'formula':>18}",
    ]
    for j in range(theta.size):
        lines.append(
            f"  {j:>3}  {r.by_hand[j]:>18.10f}  {r.by_tensor[j]:>18.10f}  "
            f"{r.numerical[j]:>18.10f}  {r.formula[j]:>18.10f}"
        )
    lines.append(f"  largest disagreement between any two: {r.max_disagreement():.2e}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    print(three_ways_section(args.seed))
    return 0
