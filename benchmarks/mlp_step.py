"""One training step of an MLP (forward + backward + SGD update): chainrule beside the floor and the others.

The step is ReLU hidden layers, softmax cross-entropy (mean over the batch) and
plain SGD, on a fixed random batch. Sizes (batch, layer widths):

* ``small``  (64,   64-128-10)
* ``medium`` (256,  784-512-256-10)
* ``large``  (1024, 784-2048-2048-10)

in float32 and float64. Contenders, all in one run, timed in blocks taken in turn
(so a drifting machine load affects every contender alike):

* ``numpy``     hand-written NumPy with explicit caches: the floor (:class:`NumpyMLP`,
                reusable: ``from mlp_step import NumpyMLP``);
* ``chainrule`` ``nn.MLP`` + ``nn.CrossEntropyLoss`` + ``optim.SGD`` through the graph;
* ``torch``     PyTorch eager (``torch.nn.Sequential``, ``torch.optim.SGD``), when installed;
* ``sklearn``   ``MLPClassifier.partial_fit`` on the batch (one SGD step), when installed.

Before timing, one step from the same weights is taken by numpy, chainrule and
torch and the updated weights compared (the "agree" column: max abs difference).

Usage::

    python benchmarks/mlp_step.py [--quick] [--sizes small,medium,large] [--dtypes float32,float64]
                                  [--contenders numpy,chainrule,torch,sklearn] [--out FILE]

``--quick`` takes fewer steps and leaves out ``large`` unless ``--sizes`` names it.
Figures go to ``benchmarks/results/mlp_step.json``. This is a benchmark, not a
test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {
    "small": (64, [64, 128, 10]),
    "medium": (256, [784, 512, 256, 10]),
    "large": (1024, [784, 2048, 2048, 10]),
}
#: (warm-up steps, timed steps) per size; --quick uses the second table.
REPEATS = {"small": (20, 300), "medium": (5, 40), "large": (2, 8)}
QUICK_REPEATS = {"small": (5, 60), "medium": (2, 10), "large": (1, 3)}
LR = 0.01
CONTENDERS = ("numpy", "chainrule", "torch", "sklearn")
#: Timed steps are taken in this many blocks per contender, in turn. Blocks, not single steps
#: interleaved: each library's BLAS threads spin for a while after a call and would steal the
#: cores of the next library's call.
ROUNDS = 3


# -- the floor: an MLP written by hand with caches --------------------------------------------


def torch_default_init(sizes: list[int], dtype: Any, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
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
    params : list of (W (out, in), b (out,)) per layer, PyTorch's layout; used in place.
    lr : SGD step size.
    """

    def __init__(self, params: list[tuple[np.ndarray, np.ndarray]], lr: float = LR):
        self.params = [(np.array(W), np.array(b)) for W, b in params]
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
                np.maximum(z, 0, out=z)
            a = z
        return a

    @staticmethod
    def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean softmax cross-entropy and its gradient with respect to the logits, (softmax − onehot) / n."""
        n = logits.shape[0]
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.log(s[:, 0]).sum() - shifted[rows, y].sum()) / n
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
                np.multiply(g, a > 0, out=g)  # ReLU: the mask is where the saved activation is positive
        self.cache = []
        return grads[::-1]

    def sgd(self, grads: list[tuple[np.ndarray, np.ndarray]]) -> None:
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


# -- the contenders ------------------------------------------------------------------------------


def make_numpy(params, x, y, dtype):
    net = NumpyMLP(params)
    return (lambda: net.step(x, y)), (lambda: [a for W, b in net.params for a in (W, b)])


def make_chainrule(params, x, y, dtype):
    import chainrule as cr  # noqa: F401
    from chainrule import nn, optim

    sizes = [params[0][0].shape[1]] + [W.shape[0] for W, _ in params]
    model = nn.MLP(sizes[0], sizes[1:-1], sizes[-1], activation="relu", dtype=dtype, rng=0)
    state = {}
    for layer, (W, b) in zip([i for i, m in enumerate(model) if isinstance(m, nn.Linear)], params):
        state[f"{layer}.weight"], state[f"{layer}.bias"] = W, b
    model.load_state_dict(state)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, (lambda: [p.data for p in model.parameters()])


def make_torch(params, x, y, dtype):
    import torch

    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    layers = []
    for i, (W, b) in enumerate(params):
        lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(params) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step, (lambda: [p.detach().numpy() for p in model.parameters()])


def make_sklearn(params, x, y, dtype):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    hidden = tuple(W.shape[0] for W, _ in params[:-1])
    clf = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", solver="sgd", learning_rate_init=LR,
                        momentum=0.0, nesterovs_momentum=False, alpha=0.0, batch_size=len(x), shuffle=False,
                        random_state=0)
    classes = np.arange(params[-1][0].shape[0])

    def step():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.partial_fit(x, y, classes=classes)

    step()  # builds the network; its own initialisation (weights transposed: (in, out))
    return step, (lambda: clf.coefs_ + clf.intercepts_)


MAKERS = {"numpy": make_numpy, "chainrule": make_chainrule, "torch": make_torch, "sklearn": make_sklearn}


def available(name: str) -> bool:
    module = {"torch": "torch", "sklearn": "sklearn"}.get(name)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# -- measuring ---------------------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        from threadpoolctl import threadpool_info

        facts["blas"] = [
            {k: info.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "architecture",
                                      "filepath")}
            for info in threadpool_info()
        ]
    except ImportError:
        config = {}
        try:
            config = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        except Exception:  # noqa: BLE001 - older NumPy
            pass
        facts["blas"] = [{"internal_api": config.get("name", "unknown"), "num_threads": "unknown "
                          "(pip install threadpoolctl to see it)"}]
    try:
        import torch

        facts["torch"] = torch.__version__
        facts["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    try:
        import sklearn

        facts["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    return facts


def blas_summary(facts: dict[str, Any]) -> str:
    parts = []
    for info in facts.get("blas", []):
        if info.get("user_api", "blas") == "blas":
            parts.append(f"{info.get('internal_api')} {info.get('version') or ''} "
                         f"({info.get('num_threads')} threads)".replace("  ", " "))
    text = "; ".join(parts) or "unknown"
    if "torch_threads" in facts:
        text += f"; torch {facts['torch']} ({facts['torch_threads']} threads)"
    return text


def agreement(params, x, y, dtype, contenders) -> dict[str, float]:
    """Max |difference| of the weights after one step from the same start, against the floor."""
    floor_step, floor_weights = make_numpy(params, x, y, dtype)
    floor_step()
    ref = floor_weights()
    out = {}
    for name in contenders:
        if name in ("numpy", "sklearn"):
            continue
        step, weights = MAKERS[name](params, x, y, dtype)
        step()
        out[name] = max(float(np.max(np.abs(np.asarray(a, dtype=np.float64) - r))) for a, r in zip(weights(), ref))
    return out


def bench_case(size: str, dtype: Any, contenders: list[str], quick: bool) -> list[dict[str, Any]]:
    batch, sizes = SIZES[size]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    params = torch_default_init(sizes, dtype, rng)
    agree = agreement(params, x, y, dtype, contenders)
    steps = {name: MAKERS[name](params, x, y, dtype)[0] for name in contenders}
    warm, reps = (QUICK_REPEATS if quick else REPEATS)[size]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    clock = time.perf_counter
    rounds = min(ROUNDS, reps)
    for r in range(rounds):  # blocks in turn: every contender sees the machine's load of every period
        for name, step in steps.items():
            gc.collect()
            for _ in range(warm if r == 0 else max(1, warm // 2)):  # wake this library's BLAS threads
                step()
            for _ in range(reps // rounds + (r < reps % rounds)):
                t0 = clock()
                step()
                times[name].append(clock() - t0)
    floor = statistics.median(times["numpy"]) if "numpy" in times else math.nan
    rows = []
    for name in contenders:
        med = statistics.median(times[name])
        rows.append({
            "size": size, "dtype": np.dtype(dtype).name, "batch": batch, "layers": sizes, "contender": name,
            "median_ms": med * 1e3, "min_ms": min(times[name]) * 1e3, "steps": reps,
            "ratio_to_numpy": med / floor if floor == floor else None,
            "max_abs_diff_after_one_step": agree.get(name),
        })
    return rows


def format_table(rows: list[dict[str, Any]], contenders: list[str]) -> str:
    head = f"{'case':<18}" + "".join(f"{c:>20}" for c in contenders) + f"{'agree (chainrule)':>20}"
    lines = [head, "-" * len(head)]
    cases: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        cases.setdefault((r["size"], r["dtype"]), {})[r["contender"]] = r
    for (size, dtype), by in cases.items():
        cells = []
        for c in contenders:
            r = by.get(c)
            if r is None:
                cells.append(f"{'-':>20}")
            elif c == "numpy":
                cells.append(f"{r['median_ms']:>12.3f} ms    ")
            else:
                cells.append(f"{r['median_ms']:>10.3f} ms {r['ratio_to_numpy']:>5.2f}×")
        agree = by.get("chainrule", {}).get("max_abs_diff_after_one_step")
        lines.append(f"{size + ' ' + dtype:<18}" + "".join(f"{c:>20}" for c in cells)
                     + (f"{agree:>20.1e}" if agree is not None else f"{'-':>20}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps; leaves out large unless --sizes names it")
    parser.add_argument("--sizes", default=None, help="comma-separated subset of small,medium,large")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS and torch to this many threads (default: the libraries' own choice)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "mlp_step.json"))
    args = parser.parse_args(argv)
    sizes = args.sizes.split(",") if args.sizes else (["small", "medium"] if args.quick else list(SIZES))
    for s in sizes:
        if s not in SIZES:
            parser.error(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    dtypes = [np.dtype(d).type for d in args.dtypes.split(",")]
    wanted = [c for c in args.contenders.split(",") if c]
    contenders = [c for c in wanted if available(c)]
    skipped = sorted(set(wanted) - set(contenders))
    if "numpy" not in contenders:
        contenders.insert(0, "numpy")
    limiter = None
    if args.threads is not None:
        try:
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(limits=args.threads)
        except ImportError:
            print("--threads needs threadpoolctl (pip install threadpoolctl)", file=sys.stderr)
            return 2
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    facts = machine_facts()
    facts["threads_limit"] = args.threads
    print("MLP training step (forward + backward + SGD), median ms per step; × = ratio to hand-written NumPy")
    print(f"BLAS: {blas_summary(facts)}; python {facts['python']}, numpy {facts['numpy']}, {facts['cpus']} CPUs"
          + (f"; not installed: {', '.join(skipped)}" if skipped else ""))
    rows = []
    for size in sizes:
        for dtype in dtypes:
            rows.extend(bench_case(size, dtype, contenders, args.quick))
            print(f"  done {size} {np.dtype(dtype).name}", file=sys.stderr)
    print(format_table(rows, contenders))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "mlp_step", "quick": args.quick, "lr": LR, "machine": facts,
                               "results": rows}, indent=2))
    print(f"written to {out}")
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
