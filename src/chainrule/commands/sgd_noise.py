"""``chainrule sgd-noise``: the mini-batch gradient as a random variable, measured against theory."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import ChainruleError
from ._args import checked, positive_int
from .train import write_json


def batch_sizes(text: str) -> list[int]:
    return checked(text, lambda t: [int(part) for part in t.split(",") if part.strip()],
                   lambda sizes: sizes and all(b >= 1 for b in sizes),
                   "expected comma-separated whole numbers, got {text!r}", "batch sizes must be >= 1, got {text!r}")


def register(sub) -> None:
    p = sub.add_parser(
        "sgd-noise",
        help="sample mini-batch gradients: mean vs full gradient, variance vs theory",
        description="At a fixed θ, draw mini-batches without replacement, compute each batch's gradient by "
        "backpropagation, and compare their mean with the full gradient and their total variance with "
        "(σ²/b)(n−b)/(n−1). The linear regression's data are standardised.",
    )
    p.add_argument("--data", default="diabetes", metavar="diabetes|synthetic|FILE.csv",
                   help="data set (default diabetes)")
    p.add_argument("--target", default=None, metavar="COL", help="CSV target column (default: the last)")
    p.add_argument("--batch-sizes", type=batch_sizes, default=[1, 4, 16, 64, 256], metavar="B1,B2,...",
                   help="batch sizes (default 1,4,16,64,256)")
    p.add_argument("--samples", type=positive_int, default=2000, help="batches per size (default 2000)")
    p.add_argument("--at", choices=("init", "optimum"), default="init",
                   help="θ where the gradient is sampled: θ ~ N(0, 1) or the least-squares optimum (default init)")
    p.add_argument("--loss", choices=("sse", "mse"), default="sse", help="sse (L = ΣΔ², default) or mse")
    p.add_argument("--seed", type=int, default=0, help="seed of θ and of the batches (default 0)")
    p.add_argument("--plot", metavar="PNG", help="write the log-log plot of variance against batch size")
    p.add_argument("--json", metavar="FILE", help="write the measurements as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.builtin import load_dataset
    from ..data.preprocessing import Standardizer
    from ..nn import LinearRegression, MSELoss, SumSquaredError
    from ..train.sgd_noise import sgd_noise

    data = load_dataset(args.data, target=args.target, rng=args.seed)
    X = Standardizer().fit_transform(data.X)
    Y = data.Y.astype(np.float64)
    n = len(X)
    too_big = [b for b in args.batch_sizes if b > n]
    if too_big:
        raise ChainruleError(f"batch sizes {too_big} exceed the {n} objects of {data.name}")
    rng = np.random.default_rng(args.seed)
    if args.at == "optimum":
        model = LinearRegression.closed_form(X, Y)
    else:
        model = LinearRegression(X.shape[1], rng=rng)
    loss_fn = SumSquaredError() if args.loss == "sse" else MSELoss()
    result = sgd_noise(model, X, Y, batch_sizes=args.batch_sizes, samples=args.samples, rng=rng, loss_fn=loss_fn)
    where = "θ ~ N(0, 1)" if args.at == "init" else "the least-squares optimum"
    print(f"{data.name}, standardised; loss {args.loss.upper()}; θ at {where}")
    print(result.report())
    if args.plot:
        from ..train.plots import plot_sgd_noise

        plot_sgd_noise(result, args.plot, title=f"Mini-batch gradient noise on {data.name} (n = {n})")
        print(f"wrote the plot to {args.plot}")
    if args.json:
        write_json(args.json, result.to_dict(), "the measurements")
    return 0
