"""``chainrule demo``: the lecture, run end to end on real numbers."""

from __future__ import annotations

import argparse

import numpy as np

from ..lang import LANGUAGES, Catalog, resolve
from ..lecture import linreg_three_ways, make_problem
from ._args import seed

#: The demo's headings and sentences (the reports under them are the training modules').
DEMO = Catalog("demo", {
    "linreg": {"en": "Linear regression, the lecture's way: μ = Xθ, Δ = μ − Y, L = ΣΔ²",
               "ru": "Линейная регрессия, как в лекции: μ = Xθ, Δ = μ − Y, L = ΣΔ²"},
    "problem": {"en": "X is {n}×{d}, θ ~ N(0, 1) = {theta}", "ru": "X размера {n}×{d}, θ ~ N(0, 1) = {theta}"},
    "three_ways": {"en": "dL/dθ computed three ways (and by the formula 2Xᵀ(Xθ − Y)):",
                   "ru": "dL/dθ тремя способами (и по формуле 2Xᵀ(Xθ − Y)):"},
    "by_hand": {"en": "by hand (blocks)", "ru": "вручную (блоки)"},
    "finite": {"en": "finite differences", "ru": "конечные разности"},
    "formula": {"en": "formula", "ru": "формула"},
    "disagreement": {"en": "largest disagreement between any two: {d}",
                     "ru": "наибольшее расхождение между любыми двумя: {d}"},
    "training": {"en": "Training it: full-batch gradient descent on the diabetes data (θ ~ N(0, 1), lr = 1/λmax(2AᵀA))",
                 "ru": "Обучение: градиентный спуск по всей выборке на данных diabetes (θ ~ N(0, 1), "
                       "lr = 1/λmax(2AᵀA))"},
    "training_skipped": {"en": "Training on diabetes skipped: {why}", "ru": "Обучение на diabetes пропущено: {why}"},
    "part_two": {"en": "Part two: a multi-layer network with a non-linear activation, Linear → ReLU → Linear, trained "
                       "with softmax cross-entropy on 8×8 handwritten digits (Adam, 8 epochs)",
                 "ru": "Часть вторая: многослойная сеть с нелинейной активацией, Linear → ReLU → Linear, обученная с "
                       "softmax и кросс-энтропией на рукописных цифрах 8×8 (Adam, 8 эпох)"},
    "mlp_skipped": {"en": "Training an MLP on digits skipped: {why}", "ru": "Обучение MLP на цифрах пропущено: {why}"},
    "try": {"en": "try", "ru": "попробуйте"},
})


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the lecture end to end: gradients three ways, then training",
        description="The lecture's linear regression gradient computed by hand with the op "
        "blocks, through Tensor, and by finite differences, side by side.",
    )
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the random problem and of training, a whole number >= 0 (default 0)")
    p.add_argument("--lang", choices=LANGUAGES, default=None,
                   help="language of the headings and the trace: en or ru (default: from the locale, LANG; else en)")
    p.set_defaults(func=run)


def three_ways_section(seed: int, lang: str | None = None) -> str:
    X, Y, theta = make_problem(seed=seed)
    r = linreg_three_ways(X, Y, theta)
    lines = [
        DEMO.text("linreg", lang),
        "  " + DEMO.text("problem", lang, n=X.shape[0], d=X.shape[1], theta=np.array2string(theta, precision=4)),
        f"  L = {r.loss:.6f}",
        "",
        "  " + DEMO.text("three_ways", lang),
        f"  {'j':>3}  {DEMO.text('by_hand', lang):>18}  {'Tensor.backward':>18}  "
        f"{DEMO.text('finite', lang):>18}  {DEMO.text('formula', lang):>18}",
    ]
    for j in range(theta.size):
        lines.append(
            f"  {j:>3}  {r.by_hand[j]:>18.10f}  {r.by_tensor[j]:>18.10f}  "
            f"{r.numerical[j]:>18.10f}  {r.formula[j]:>18.10f}"
        )
    lines.append("  " + DEMO.text("disagreement", lang, d=f"{r.max_disagreement():.2e}"))
    return "\n".join(lines)


def lecture_trace_section(lang: str | None = None) -> str:
    """The lecture's first example (+, −, ×), traced forward and backward step by step."""
    from ..explain import lecture

    return lecture(1, lang=lang).render("text").rstrip("\n")  # type: ignore[union-attr]


def run(args: argparse.Namespace) -> int:
    lang = resolve(args.lang)
    print(lecture_trace_section(lang))
    print()
    print(three_ways_section(args.seed, lang))
    print()
    print(training_section(args.seed, lang))
    print()
    print(mlp_section(args.seed, lang))
    return 0


def training_section(seed: int, lang: str | None = None) -> str:
    """The lecture's regression trained by full-batch gradient descent on diabetes, beside its closed form."""
    from ..data.builtin import load_diabetes
    from ..errors import MissingDependencyError
    from ..train.linreg import train_linreg

    try:
        data = load_diabetes()
    except MissingDependencyError as exc:
        return DEMO.text("training_skipped", lang, why=exc)
    result = train_linreg(data, optimizer="gd", lr="auto", epochs=5000, seed=seed, progress=False)
    return "\n".join([
        DEMO.text("training", lang),
        result.report(),
        f"  ({DEMO.text('try', lang)}: chainrule train linreg --optimizer sgd --batch-size 16 --plot loss.png;"
        " chainrule sgd-noise --plot noise.png)",
    ])


def mlp_section(seed: int, lang: str | None = None) -> str:
    """The lecture's part two: a multi-layer network with ReLU, trained by backprop on the digits images."""
    from ..data.classification import load_digits
    from ..errors import MissingDependencyError
    from ..train.classifier import train_classifier

    try:
        data = load_digits()
    except MissingDependencyError as exc:
        return DEMO.text("mlp_skipped", lang, why=exc)
    result = train_classifier(data, hidden=[64], activation="relu", optimizer="adam", epochs=8, seed=seed,
                              track_confusion=False, progress=False)
    return "\n".join([
        DEMO.text("part_two", lang),
        result.report(confusion=False),
        f"  ({DEMO.text('try', lang)}: chainrule train mlp --data digits --hidden 64,64 --plot curves.png "
        "--save digits.safetensors; chainrule evaluate --model digits.safetensors digits)",
    ])
