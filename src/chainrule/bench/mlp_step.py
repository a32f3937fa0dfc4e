"""One training step of an MLP (forward + backward + SGD update): chainrule beside the floor and the others.

The step is ReLU hidden layers, softmax cross-entropy (mean over the batch) and
plain SGD, on a fixed random batch. Sizes (batch, layer widths):

* ``small``  (64,   64-128-10)
* ``medium`` (256,  784-512-256-10)
* ``large``  (1024, 784-2048-2048-10)

in float32 and float64. Contenders, all in one run, timed in alternating blocks
(see :mod:`chainrule.bench.common` for the method):

* ``numpy``     hand-written NumPy with explicit caches: the floor (:class:`NumpyMLP`);
* ``chainrule`` ``nn.MLP`` + ``nn.CrossEntropyLoss`` + ``optim.SGD`` through the graph;
* ``torch``     PyTorch eager (``torch.nn.Sequential``, ``torch.optim.SGD``), when installed;
* ``sklearn``   ``MLPClassifier.partial_fit`` on the batch (one SGD step, its input
                checks included), when installed.

Before timing, one step from the same weights is taken by numpy, chainrule and
torch and the updated weights compared (the "agree" column: max abs difference;
the check fails above 1e-5 in float32, 1e-10 in float64).

Usage: ``python -m chainrule.bench.mlp_step [--quick] [--sizes small,medium,large] [--dtypes float32,float64]
[--contenders numpy,chainrule,torch,sklearn] [--threads N] [--out FILE]`` (or ``python benchmarks/mlp_step.py``).
``--quick`` takes fewer steps and leaves out ``large`` unless ``--sizes`` names it.
A benchmark, not a test: it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .common import (
    METHOD,
    SummaryRow,
    absent_note,
    add_allocator_argument,
    add_script_arguments,
    check,
    end_report,
    facts_lines,
    finish,
    floor_and_available,
    median,
    ratio,
    run_blocks,
    summary_table,
    text_table,
    timing_run,
    unstable,
)

SIZES: dict[str, tuple[int, list[int]]] = {
    "tiny": (16, [8, 16, 4]),
    "small": (64, [64, 128, 10]),
    "medium": (256, [784, 512, 256, 10]),
    "large": (1024, [784, 2048, 2048, 10]),
}
#: (warm-up steps at a contender's first block, timed steps) per size, per preset.
REPEATS = {"tiny": (1, 2), "small": (20, 300), "medium": (5, 40), "large": (2, 8)}
QUICK_REPEATS = {"tiny": (1, 2), "small": (5, 60), "medium": (2, 12), "large": (1, 3)}
LR = 0.01
CONTENDERS = ("numpy", "chainrule", "torch", "sklearn")
#: Timed steps are taken in this many blocks per contender, in turn. Blocks, not single steps
#: interleaved: each library's BLAS threads spin for a while after a call and would steal the
#: cores of the next library's call.
ROUNDS = 3
#: Largest |difference| of the weights after one step, against the floor, that passes the check.
AGREE_TOL = {"float32": 1e-5, "float64": 1e-10}
#: A case whose timings come out bimodal (a busy machine stalling a BLAS thread) is timed again this many times.
RETRIES = 1


# -- the floor: an MLP written by hand with caches --------------------------------------------


def torch_default_init(sizes: Sequence[int], dtype: Any, rng: np.random.Generator
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights (out, in) and biases (out,) drawn from U(±1/√fan_in), PyTorch's default for Linear."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(n_in)
        W = rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype)
        b = rng.uniform(-bound, bound, n_out).astype(dtype)
        params.append((W, b))
    return params


class NumpyMLP:
    """ReLU MLP + softmax cross-entropy + SGD, written by hand in NumPy: the floor a framework is measured against.

    The forward pass keeps each layer's input (the cache); the backward pass walks
    the layers in reverse with the chain rule; the update is in place. No work is
    wasted: the data matrix gets no gradient, the ReLU mask is read from the saved
    activation, and temporaries are reused where NumPy allows.

    Parameters
    ----------
    params : list of (W (out, in), b (out,)) per layer, PyTorch's layout; copied.
    lr : SGD step size.
    xp : the array module: NumPy, or CuPy for the same step written by hand on a GPU
        (:mod:`chainrule.bench.gpu_mlp`).
    """

    def __init__(self, params: Sequence[tuple[np.ndarray, np.ndarray]], lr: float = LR, xp: Any = np):
        self.xp = xp
        self.params = [(xp.array(W), xp.array(b)) for W, b in params]
        self.lr = lr
        self.cache: list[np.ndarray] = []

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (n, classes); caches every layer's input."""
        self.cache = []
        a = x
        last = len(self.params) - 1
        for i, (W, b) in enumerate(self.params):
            self.cache.append(a)
            z = a @ W.T
            z += b
            if i < last:
                self.xp.maximum(z, 0, out=z)
            a = z
        return a

    def cross_entropy(self, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean softmax cross-entropy and its gradient with respect to the logits, (softmax − onehot) / n."""
        xp = self.xp
        n = logits.shape[0]
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = xp.arange(n)
        loss = float(xp.log(s[:, 0]).sum() - shifted[rows, y].sum()) / n
        e /= s
        e[rows, y] -= 1
        e *= 1.0 / n
        return loss, e

    def backward(self, dlogits: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Gradients (dW, db) of every layer, first to last; the input gets none."""
        grads = []
        g = dlogits
        for i in range(len(self.params) - 1, -1, -1):
            W, _ = self.params[i]
            a = self.cache[i]
            grads.append((g.T @ a, g.sum(axis=0)))
            if i > 0:
                g = g @ W
                self.xp.multiply(g, a > 0, out=g)  # ReLU: the mask is where the saved activation is positive
        self.cache = []
        return grads[::-1]

    def sgd(self, grads: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        for (W, b), (dW, db) in zip(self.params, grads):
            dW *= self.lr
            W -= dW
            db *= self.lr
            b -= db

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One training step; returns the loss before the update."""
        loss, d = self.cross_entropy(self.forward(x), y)
        self.sgd(self.backward(d))
        return loss


# -- the contenders: each maker returns (step, weights); step() returns the loss as a float ------------


Maker = Callable[[Sequence[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray, Any],
                 tuple[Callable[[], Any], Callable[[], list[np.ndarray]]]]


def make_numpy(params, x, y, dtype):
    net = NumpyMLP(params)
    return (lambda: net.step(x, y)), (lambda: [a for W, b in net.params for a in (W, b)])


def make_chainrule(params, x, y, dtype, device: str = "cpu"):
    """chainrule's MLP from the same weights; ``device="cuda"``: model and batch on the GPU
    (:mod:`chainrule.bench.gpu_mlp`)."""
    from .. import nn, optim

    sizes = [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]
    model = nn.MLP(sizes[0], sizes[1:-1], sizes[-1], activation="relu", dtype=dtype, rng=0)
    state = {}
    for layer, (W, b) in zip([i for i, m in enumerate(model) if isinstance(m, nn.Linear)], params):
        state[f"{layer}.weight"], state[f"{layer}.bias"] = W, b
    model.load_state_dict(state)
    if device != "cpu":
        from ..backend import to_device

        model.to(device)
        x, y = to_device(x, device), to_device(y, device)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR)

    def step() -> float:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step, (lambda: [p.numpy() for p in model.parameters()])


def make_torch(params, x, y, dtype, device: str = "cpu"):
    """PyTorch eager's step of the same MLP, on ``device`` (``"cuda"``: the GPU benchmark's contender)."""
    import torch

    tdtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    layers: list[Any] = []
    for i, (W, b) in enumerate(params):
        lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(params) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    return step, (lambda: [p.detach().cpu().numpy() for p in model.parameters()])


def make_sklearn(params, x, y, dtype):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    hidden = tuple(W.shape[0] for W, _ in params[:-1])
    clf = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", solver="sgd", learning_rate_init=LR,
                        momentum=0.0, nesterovs_momentum=False, alpha=0.0, batch_size=len(x), shuffle=False,
                        random_state=0)
    classes = np.arange(params[-1][0].shape[0])

    def step() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.partial_fit(x, y, classes=classes)
        return float(clf.loss_)

    step()  # builds the network; its own initialisation (weights transposed: (in, out))
    return step, (lambda: clf.coefs_ + clf.intercepts_)


MAKERS: dict[str, Maker] = {"numpy": make_numpy, "chainrule": make_chainrule, "torch": make_torch,
                            "sklearn": make_sklearn}


# -- measuring ---------------------------------------------------------------------------------------


def make_case(size: str, dtype: Any, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The batch x (batch, in) of ``dtype``, labels y (batch,) and the initial parameters of a size."""
    batch, sizes = SIZES[size]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    return x, y, torch_default_init(sizes, dtype, rng)


def agreement(params, x, y, dtype, contenders) -> dict[str, dict[str, Any]]:
    """One step from the same start: max |difference| of the updated weights against the floor, and dtypes."""
    floor_step, floor_weights = make_numpy(params, x, y, dtype)
    floor_loss = floor_step()
    ref = floor_weights()
    out = {}
    for name in contenders:
        if name in ("numpy", "sklearn"):
            continue
        step, weights = MAKERS[name](params, x, y, dtype)
        loss = step()
        ws = weights()
        out[name] = {
            "max_abs_diff": max(float(np.max(np.abs(np.asarray(a, dtype=np.float64) - r))) for a, r in zip(ws, ref)),
            "loss_diff": abs(float(loss) - floor_loss),
            "dtypes": sorted({np.asarray(a).dtype.name for a in ws}),
        }
    return out


def bench_case(size: str, dtype: Any, contenders: Sequence[str], preset: str
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Time one (size, dtype): (one row per contender, the case's checks)."""
    batch, sizes = SIZES[size]
    dname = np.dtype(dtype).name
    x, y, params = make_case(size, dtype)
    agree = agreement(params, x, y, dtype, contenders)
    checks = {}
    for name, a in agree.items():
        ok = a["max_abs_diff"] <= AGREE_TOL[dname] and a["dtypes"] == [dname]
        checks[f"{size}_{dname}_{name}"] = check(
            ok, f"{name}, {size} {dname}: weights after one step differ from numpy's by {a['max_abs_diff']:.1e} "
            f"(<= {AGREE_TOL[dname]:g}), parameter dtypes {a['dtypes']}")
    steps = {name: MAKERS[name](params, x, y, dtype)[0] for name in contenders}
    warm, reps = (REPEATS if preset == "full" else QUICK_REPEATS)[size]
    rounds = min(ROUNDS, reps)
    times: dict[str, list[float]] = {}
    attempts = 0
    while attempts <= RETRIES:
        attempts += 1
        times = run_blocks(steps, rounds=rounds, per_block=-(-reps // rounds), warmup=max(1, warm // 2),
                           first_warmup=warm)
        if not any(unstable(t) for t in times.values()):
            break
    floor = median(times["numpy"])
    rows = []
    for name in contenders:
        med = median(times[name])
        rows.append({
            "size": size, "dtype": dname, "batch": batch, "layers": sizes, "contender": name,
            "median_ms": med * 1e3, "min_ms": min(times[name]) * 1e3, "steps": len(times[name]),
            "ratio_to_numpy": ratio(med, floor), "unstable": unstable(times[name]), "attempts": attempts,
            "max_abs_diff_after_one_step": agree.get(name, {}).get("max_abs_diff"),
        })
    return rows, checks


def run(preset: str = "quick", *, sizes: Sequence[str] | None = None,
        dtypes: Sequence[str] = ("float32", "float64"), contenders: Sequence[str] = CONTENDERS,
        threads: int | None = None, progress: bool = False, allocator: str = "steady") -> dict[str, Any]:
    """Run the benchmark and return its results (JSON-ready). ``preset`` is ``tiny``, ``quick`` or ``full``;
    ``allocator`` as :func:`~chainrule.bench.common.fix_allocator` takes it."""
    present, notes, rows, checks, facts = run_cases(bench_case, preset, sizes, dtypes, contenders, threads,
                                                    progress, allocator)
    return {"benchmark": "mlp_step", "preset": preset, "quick": preset != "full", "lr": LR,
            "method": {**METHOD, "rounds": ROUNDS, "repeats": REPEATS if preset == "full" else QUICK_REPEATS},
            "machine": facts, "contenders": present, "checks": checks, "notes": notes, "results": rows}


def run_cases(bench_case: Callable, preset: str, sizes: Sequence[str] | None, dtypes: Sequence[str],
              contenders: Sequence[str], threads: int | None, progress: bool, allocator: str
              ) -> tuple[list[str], list[str], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """``bench_case(size, dtype, contenders, preset)`` for every size and dtype, in one timing run (shared by
    this benchmark and :mod:`chainrule.bench.hvp`): (contenders present, notes, rows, checks, machine facts)."""
    if sizes is None:
        sizes = {"tiny": ["tiny"], "quick": ["small", "medium"], "full": ["small", "medium", "large"]}[preset]
    for s in sizes:
        if s not in SIZES:
            raise ValueError(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    present, notes = floor_and_available(contenders)
    rows: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    with timing_run(threads, allocator, present) as facts:
        for size in sizes:
            for dtype in dtypes:
                r, c = bench_case(size, np.dtype(dtype).type, present, preset)
                rows.extend(r)
                checks.update(c)
                if progress:
                    print(f"  done {size} {dtype}", file=sys.stderr)
    shaky = [f"{r['size']} {r['dtype']} {r['contender']}" for r in rows if r["unstable"]]
    if shaky:
        notes.append(f"unstable timings (median > 3x the fastest call, after {RETRIES} retry): {', '.join(shaky)}; "
                     "the machine was busy: rerun, or compare with --threads 1")
    return present, notes, rows, checks, facts


def summary_rows(results: dict[str, Any], what: str = "MLP step",
                 contenders: Sequence[str] = CONTENDERS) -> list[SummaryRow]:
    """One table row per (size, dtype), labelled ``what`` and the layer sizes."""
    cases: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in results["results"]:
        cases.setdefault((r["size"], r["dtype"]), {})[r["contender"]] = r
    out = []
    for (size, dtype), by in cases.items():
        first = next(iter(by.values()))
        label = f"{what} {size} {dtype} (batch {first['batch']}, {'-'.join(map(str, first['layers']))})"
        notes = {c: absent_note(c) for c in contenders if c not in by}
        flags = {c: "!" for c, r in by.items() if r.get("unstable")}
        out.append(SummaryRow(label, "ms", {c: r["median_ms"] for c, r in by.items()}, notes, flags=flags))
    return out


def report(results: dict[str, Any]) -> str:
    lines = facts_lines(results["machine"])
    lines.append("MLP training step (forward + backward + SGD): median ms per step; (×) = ratio to hand-written NumPy")
    lines.append(summary_table(summary_rows(results)))
    agree = [[f"{r['size']} {r['dtype']}", r["contender"], f"{r['max_abs_diff_after_one_step']:.1e}"]
             for r in results["results"] if r["max_abs_diff_after_one_step"] is not None]
    if agree:
        lines.append("")
        lines.append("weights after one step from the same start, max |difference| from hand-written NumPy:")
        lines.append(text_table(["case", "contender", "max abs diff"], agree))
    return end_report(lines, results)


def main(argv: list[str] | None = None, *, default_out: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlp_step", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps; leaves out large unless --sizes names it")
    parser.add_argument("--sizes", default=None, help="comma-separated subset of small,medium,large")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS and torch to this many threads (default: the libraries' own choice)")
    add_allocator_argument(parser)
    add_script_arguments(parser, default_out)
    args = parser.parse_args(argv)
    preset = "tiny" if args.tiny else "quick" if args.quick else "full"
    sizes = args.sizes.split(",") if args.sizes else None
    if sizes and any(s not in SIZES for s in sizes):
        parser.error(f"unknown size in {args.sizes!r}; choose from {', '.join(SIZES)}")
    wanted = [c for c in args.contenders.split(",") if c]
    unknown = [c for c in wanted if c not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}")
    results = run(preset, sizes=sizes, dtypes=args.dtypes.split(","), contenders=wanted, threads=args.threads,
                  progress=True, allocator=args.allocator)
    return finish(results, report, args.out)


if __name__ == "__main__":
    sys.exit(main())
