"""``chainrule train linreg``: the lecture's linear regression, trained and set beside its closed form."""

from __future__ import annotations

import argparse

from ..data.builtin import BUILTIN, load_dataset
from ..errors import ChainruleError
from ..optim import OPTIMIZERS
from ._args import delimiter, option
from ._files import CHECKPOINT, FILE, MODEL, PLOT, check_files
from .train import add_common_arguments, check_combinations, check_test_size, save_model, write_json
from .train_distributed import add_cluster_arguments, on_a_cluster


def register(tasks) -> None:
    p = tasks.add_parser(
        "linreg",
        help="linear regression μ = Xθ, L = ΣΔ², by (stochastic) gradient descent",
        description="Train the lecture's linear regression (θ ~ N(0, 1), μ = Xθ + b, L = Σ(μ − Y)²) with "
        "backpropagation, then print the final train and test loss, θ, and the gap to the least-squares "
        "closed form.",
    )
    d = p.add_argument_group("data")
    d.add_argument("--data", default="diabetes", metavar="diabetes|synthetic|FILE.csv",
                   help="built-in diabetes (needs chainrule[data]), synthetic, or a CSV file (default diabetes)")
    d.add_argument("--target", default=None, metavar="COL",
                   help="CSV target column, by header name or index (default: the last column)")
    d.add_argument("--delimiter", type=delimiter, default=None, help="CSV delimiter (default: detected)")
    d.add_argument("--n-samples", type=option("n_samples"), default=1000,
                   help="synthetic: objects (default 1000; the data may take at most 2 GiB)")
    d.add_argument("--n-features", type=option("n_features"), default=5, help="synthetic: features (default 5)")
    d.add_argument("--noise", type=option("noise"), default=0.5,
                   help="synthetic: noise standard deviation, in [0, 1e6] (default 0.5)")
    d.add_argument("--no-standardize", dest="standardize", action="store_false",
                   help="keep raw features (default: standardise with training statistics)")
    p.add_argument("--loss", choices=("sse", "mse"), default="sse",
                   help="sse: the lecture's L = ΣΔ² (default); mse: its mean")
    p.add_argument("--target-gap", type=option("target_gap"), default=None,
                   help="stop once the training loss is within this relative gap of the closed form")
    add_common_arguments(p, optimizers=OPTIMIZERS, default_optimizer="gd", default_epochs=5000)
    p.add_argument("--plot-fit", metavar="PNG", help="one-feature data only: the objects and the fitted line")
    add_cluster_arguments(p)
    p.set_defaults(func=run)


def data_file(args: argparse.Namespace) -> str | None:
    """The CSV file ``--data`` names (as :func:`~chainrule.data.builtin.load_dataset` reads it), or None."""
    name = args.data
    if name in BUILTIN or not (name.lower().endswith((".csv", ".tsv", ".txt")) or "/" in name or "\\" in name):
        return None
    return name


def load_data(args: argparse.Namespace):
    kwargs = {}
    if args.data == "synthetic":
        kwargs = {"n_samples": args.n_samples, "n_features": args.n_features, "noise": args.noise}
    elif args.data != "diabetes":
        kwargs = {"delimiter": args.delimiter}
    if args.target is not None and args.data in ("diabetes", "synthetic"):
        raise ChainruleError("--target applies to CSV files only")
    return load_dataset(args.data, target=args.target, rng=args.seed, **kwargs)


def run(args: argparse.Namespace) -> int:
    if on_a_cluster(args):  # --workers N or --scheduler tcp://...: the same training on Dask
        from . import train_distributed

        return train_distributed.run(args)
    from ..train.linreg import train_linreg

    check_test_size(args.test_size)
    if args.target is not None and args.data in BUILTIN:
        raise ChainruleError("--target applies to CSV files only")
    check_combinations(args)
    check_files({"--plot": (args.plot, PLOT), "--plot-fit": (args.plot_fit, PLOT),
                 "--history": (args.history, FILE), "--save": (args.save, MODEL),
                 "--checkpoint": (args.checkpoint, CHECKPOINT)},
                {"--data": data_file(args)}, force=args.force)
    data = load_data(args)
    if args.plot_fit and data.n_features != 1:
        raise ChainruleError(f"--plot-fit needs one-feature data; {data.name} has {data.n_features} features")
    result = train_linreg(
        data, optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        test_size=args.test_size, standardize=args.standardize, loss=args.loss, momentum=args.momentum,
        weight_decay=args.weight_decay, schedule=args.schedule, tol=args.tol, patience=args.patience,
        target_gap=args.target_gap, progress=args.progress,
        checkpoint=args.checkpoint, resume=args.resume,
    )
    print(result.report())
    if result.extra.get("true_weight") is not None:
        print(f"  (synthetic truth: weights {result.extra['true_weight']}, intercept {result.extra['true_bias']}, "
              f"in raw units)")
    if args.plot:
        from ..train.plots import plot_history

        per_object = (result.n_train, max(result.n_test, 1)) if result.loss_name == "SSE" else None
        plot_history(result.history, args.plot, optimum=result.optimum_loss, per_object=per_object,
                     ylabel="loss per object (SSE / n)" if per_object else "loss (MSE)",
                     title=f"Linear regression on {result.data_name} ({result.optimizer})")
        print(f"wrote the loss curves to {args.plot}")
    if args.plot_fit:
        from ..train.plots import plot_fit_line

        plot_fit_line(data.X, data.Y, result.predict, args.plot_fit, feature_name=data.feature_names[0],
                      target_name=data.target_name)
        print(f"wrote the fitted line to {args.plot_fit}")
    if args.history:
        write_json(args.history, result.history.to_dict(), "the history")
    if args.save:
        save_model(result.model, args.save, result.metadata())
    return 1 if result.history.stop_reason == "diverged" else 0
