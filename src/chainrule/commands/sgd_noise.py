"""``chainrule sgd-noise``: the mini-batch gradient as a random variable, measured against theory."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import ChainruleError
from ._args import delimiter, option, seed, size_list
from ._files import FILE, PLOT, check_files
from .train import write_json
from .train_linreg import data_file

#: ``--batch-sizes 1,4,16``: each a whole number from 1 to 2**31 - 1.
batch_sizes = size_list("batch_size", "1,4,16")


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
    p.add_argument("--delimiter", type=delimiter, default=None, help="CSV delimiter (default: detected)")
    p.add_argument("--batch-sizes", type=batch_sizes, default=[1, 4, 16, 64, 256], metavar="B1,B2,...",
                   help="batch sizes (default 1,4,16,64,256)")
    p.add_argument("--samples", type=option("samples"), default=2000,
                   help="batches per size, 2 to 1,000,000 (default 2000)")
    p.add_argument("--at", choices=("init", "optimum"), default="init",
                   help="θ where the gradient is sampled: θ ~ N(0, 1) or the least-squares optimum (default init)")
    p.add_argument("--loss", choices=("sse", "mse"), default="sse", help="sse (L = ΣΔ², default) or mse")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of θ and of the batches, a whole number >= 0 (default 0)")
    p.add_argument("--plot", metavar="PNG", help="write the log-log plot of variance against batch size")
    p.add_argument("--json", metavar="FILE", help="write the measurements as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.builtin import BUILTIN, load_dataset
    from ..data.checks import check_columns
    from ..data.preprocessing import Standardizer
    from ..nn import LinearRegression, MSELoss, SumSquaredError
    from ..train.sgd_noise import sgd_noise

    if args.target is not None and args.data in BUILTIN:
        raise ChainruleError("--target applies to CSV files only")
    csv_file = data_file(args)
    check_files({"--plot": (args.plot, PLOT), "--json": (args.json, FILE)}, {"--data": csv_file})
    kwargs = {"delimiter": args.delimiter} if csv_file is not None else {}
    data = load_dataset(args.data, target=args.target, rng=args.seed, **kwargs)
    check_columns(data.X, data.feature_names, data.name, n_columns=data.n_features + 1)
    check_columns(data.Y, [data.target_name], data.name, n_columns=data.n_features + 1)
    X = Standardizer().fit_transform(data.X)
    Y = data.Y.astype(np.float64)
    n = len(X)
    too_big = [b for b in args.batch_sizes if b > n]
    if too_big:
        raise ChainruleError(f"batch sizes {too_big} exceed the {n} objects of {data.name}")
    if n < 2:
        raise ChainruleError(f"{data.name} has {n} object; sampling mini-batches needs at least two")
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
