"""``chainrule demo``: the lecture, run end to end on real numbers."""

from __future__ import annotations

import argparse

import numpy as np

from ..lecture import linreg_three_ways, make_problem
from ._args import seed


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the lecture end to end: gradients three ways, then training",
        description="The lecture's linear regression gradient computed by hand with the op "
        "blocks, through Tensor, and by finite differences, side by side.",
    )
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the random problem and of training, a whole number >= 0 (default 0)")
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


def lecture_trace_section() -> str:
    """The lecture's first example (+, −, ×), traced forward and backward step by step."""
    from ..explain import lecture

    return lecture(1).render("text").rstrip("\n")  # type: ignore[union-attr]


def run(args: argparse.Namespace) -> int:
    print(lecture_trace_section())
    print()
    print(three_ways_section(args.seed))
    print()
    print(training_section(args.seed))
    print()
    print(mlp_section(args.seed))
    return 0


def training_section(seed: int) -> str:
    """The lecture's regression trained by full-batch gradient descent on diabetes, beside its closed form."""
    from ..data.builtin import load_diabetes
    from ..errors import MissingDependencyError
    from ..train.linreg import train_linreg

    try:
        data = load_diabetes()
    except MissingDependencyError as exc:
        return f"Training on diabetes skipped: {exc}"
    result = train_linreg(data, optimizer="gd", lr="auto", epochs=5000, seed=seed, progress=False)
    return "\n".join([
        "Training it: full-batch gradient descent on the diabetes data (θ ~ N(0, 1), lr = 1/λmax(2AᵀA))",
        result.report(),
        "  (try: chainrule train linreg --optimizer sgd --batch-size 16 --plot loss.png;"
        " chainrule sgd-noise --plot noise.png)",
    ])


def mlp_section(seed: int) -> str:
    """The lecture's part two: a multi-layer network with ReLU, trained by backprop on the digits images."""
    from ..data.classification import load_digits
    from ..errors import MissingDependencyError
    from ..train.classifier import train_classifier

    try:
        data = load_digits()
    except MissingDependencyError as exc:
        return f"Training an MLP on digits skipped: {exc}"
    result = train_classifier(data, hidden=[64], activation="relu", optimizer="adam", epochs=8, seed=seed,
                              track_confusion=False, progress=False)
    return "\n".join([
        "Part two: a multi-layer network with a non-linear activation, Linear → ReLU → Linear, trained with "
        "softmax cross-entropy on 8×8 handwritten digits (Adam, 8 epochs)",
        result.report(confusion=False),
        "  (try: chainrule train mlp --data digits --hidden 64,64 --plot curves.png --save digits.safetensors;"
        " chainrule evaluate --model digits.safetensors digits)",
    ])
