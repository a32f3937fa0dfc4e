"""Convolutions: a Conv2d forward + backward and one Adam step of the digits CNN, beside NumPy and PyTorch.

Cases, each in float32 and float64, timed in alternating blocks in one run (see
:mod:`chainrule.bench.common`):

* ``conv``  a Conv2d of 32 3×3 filters on a batch of 64 one-channel 28×28 images: forward, then the
            backward pass of the sum of the output's squares (gradients of the input, the filters
            and the bias);
* ``cnn``   one Adam step of the network of ``examples/cnn_digits.py`` (Conv2d 1→16, ReLU, 2×2
            max-pool, Conv2d 16→32, ReLU, max-pool, Linear 128→10, mean softmax cross-entropy) on a
            batch of 32 8×8 images.

Contenders:

* ``numpy``     written by hand: im2col as a strided view (``sliding_window_view``), the contraction
                by ``tensordot``, col2im as one strided add per kernel position, the pools by
                reshaping (the floor);
* ``chainrule`` ``nn.Conv2d`` / the network as a ``Sequential`` (im2col by the SlidingWindows block,
                the contraction by Einsum);
* ``torch``     the same layers in PyTorch eager (oneDNN on the CPU).

Before timing, every contender's output (and, for ``conv``, the filters' gradient) is compared with
the hand-written one (1e-4 relative in float32, 1e-10 in float64).

Usage: ``python -m chainrule.bench.conv [--quick] [--dtypes float32,float64] [--threads N] [--out FILE]``
(or ``python benchmarks/conv2d.py``). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
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
    timing_run,
    unstable,
)

CONTENDERS = ("numpy", "chainrule", "torch")
#: case -> (batch, channels in, image side, description) for the full and quick presets; tiny for the tests.
SHAPES = {"conv": (64, 1, 28, "Conv2d {batch}×1×28×28, 32 3×3 filters, fwd+bwd"),
          "cnn": (32, 1, 8, "digits CNN Adam step, batch {batch}")}
TINY_BATCH = 4
REPEATS = {"full": (3, 40), "quick": (2, 12), "tiny": (1, 2)}
ROUNDS = 4
AGREE_TOL = {"float32": 1e-4, "float64": 1e-10}
CNN_LAYERS = ((1, 16), (16, 32))  # (in, out) channels of the digits CNN's two convolutions


# -- hand-written NumPy ---------------------------------------------------------------------------


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> tuple[np.ndarray, tuple]:
    """Cross-correlation of x (N, C, H, W) with w (O, C, k, k) plus b, padding ``pad``: (N, O, Ho, Wo)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    cols = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))  # (N, C, Ho, Wo, k, k)
    out = np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2) + b[:, None, None]
    return out, (xp.shape, cols, w, pad)


def conv_backward(g: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the input, the filters and the bias from the output's gradient g (N, O, Ho, Wo)."""
    padded, cols, w, pad = cache
    ho, wo = g.shape[2:]
    dw = np.tensordot(g, cols, axes=([0, 2, 3], [0, 2, 3]))  # (O, C, k, k)
    dcols = np.tensordot(g, w, axes=([1], [0]))  # (N, Ho, Wo, C, k, k)
    dxp = np.zeros(padded, g.dtype)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            dxp[:, :, i:i + ho, j:j + wo] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    dx = dxp[:, :, pad:padded[2] - pad, pad:padded[3] - pad] if pad else dxp
    return dx, dw, g.sum(axis=(0, 2, 3))


def pool_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2×2 max-pool of x (N, C, H, W) with even sides, and where each maximum was."""
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2)
    out = blocks.max(axis=(3, 5))
    return out, blocks == out[:, :, :, None, :, None]


def pool_backward(g: np.ndarray, where: np.ndarray) -> np.ndarray:
    n, c, h, _, w, _ = where.shape
    return (g[:, :, :, None, :, None] * where).reshape(n, c, 2 * h, 2 * w)


def make_numpy_conv(x, w, b):
    def step():
        out, cache = conv_forward(x, w, b, 0)
        return (out, *conv_backward(2 * out, cache))

    return step


def make_numpy_cnn(x, y, params, lr=1e-3):
    """One Adam step of the digits CNN written by hand; params [W1, b1, W2, b2, W3, b3] are updated in place."""
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    beta1, beta2, eps, count = 0.9, 0.999, 1e-8, [0]
    n = len(x)

    def step():
        w1, b1, w2, b2, w3, b3 = params
        a1, c1 = conv_forward(x, w1, b1, 1)
        h1, m1 = pool_forward(np.maximum(a1, 0))
        a2, c2 = conv_forward(h1, w2, b2, 1)
        h2, m2 = pool_forward(np.maximum(a2, 0))
        flat = h2.reshape(n, -1)
        z = flat @ w3.T + b3
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(n), y] -= 1
        dz = p / n
        dw3, db3 = dz.T @ flat, dz.sum(axis=0)
        dh2 = (dz @ w3).reshape(h2.shape)
        da2 = pool_backward(dh2, m2) * (a2 > 0)
        dh1, dw2, db2 = conv_backward(da2, c2)
        da1 = pool_backward(dh1, m1) * (a1 > 0)
        _, dw1, db1 = conv_backward(da1, c1)
        count[0] += 1
        t = count[0]
        for param, grad, (m, v) in zip(params, (dw1, db1, dw2, db2, dw3, db3), moments):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
        return z

    return step


def numpy_cnn_logits(x, params):
    w1, b1, w2, b2, w3, b3 = params
    h1 = pool_forward(np.maximum(conv_forward(x, w1, b1, 1)[0], 0))[0]
    h2 = pool_forward(np.maximum(conv_forward(h1, w2, b2, 1)[0], 0))[0]
    return h2.reshape(len(x), -1) @ w3.T + b3


# -- chainrule and PyTorch ------------------------------------------------------------------------


def cnn_network(dtype, seed: int = 0):
    """The network of ``examples/cnn_digits.py``, in chainrule."""
    from .. import nn

    (c0, c1), (_, c2) = CNN_LAYERS
    return nn.Sequential(
        nn.Conv2d(c0, c1, 3, padding=1, rng=seed, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1, rng=seed + 1, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 2 * 2, 10, rng=seed + 2, dtype=dtype))


def torch_cnn(torch, dtype):
    (c0, c1), (_, c2) = CNN_LAYERS
    return torch.nn.Sequential(
        torch.nn.Conv2d(c0, c1, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(c1, c2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(c2 * 2 * 2, 10)).to(dtype)


def _torch_dtype(torch, dtype):
    return torch.float32 if np.dtype(dtype) == np.float32 else torch.float64


def conv_contenders(dtype, batch: int, contenders: Sequence[str]):
    """The Conv2d case: {contender: step}, each step returning (output, dx, dw, db) as arrays."""
    from .. import nn, tensor

    _, c, side, _ = SHAPES["conv"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, c, side, side)).astype(dtype)
    layer = nn.Conv2d(c, 32, 3, rng=0, dtype=dtype)
    w, b = layer.weight.numpy().copy(), layer.bias.numpy().copy()
    fns = {"numpy": make_numpy_conv(x, w, b)}

    def ours():
        layer.zero_grad()
        t = tensor(x, requires_grad=True)
        out = layer(t)
        (out ** 2).sum().backward()
        return out.numpy(), t.grad, layer.weight.grad, layer.bias.grad

    fns["chainrule"] = ours
    if "torch" in contenders:
        import torch

        theirs = torch.nn.Conv2d(c, 32, 3, dtype=_torch_dtype(torch, dtype))
        theirs.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
        xt = torch.from_numpy(x)

        def torch_step():
            theirs.zero_grad()
            t = xt.clone().requires_grad_(True)
            out = theirs(t)
            (out ** 2).sum().backward()
            return out.detach().numpy(), t.grad.numpy(), theirs.weight.grad.numpy(), theirs.bias.grad.numpy()

        fns["torch"] = torch_step
    return fns


def cnn_contenders(dtype, batch: int, contenders: Sequence[str]):
    """The CNN case: {contender: step}, each one Adam step on the same batch from the same weights; and a
    function giving each contender's logits of the batch now (for the check after one step)."""
    from .. import nn, optim

    rng = np.random.default_rng(1)
    x = rng.random((batch, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 10, batch)
    ours = cnn_network(dtype)
    state = ours.state_dict()
    keys = ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias"]
    params = [np.array(state[k]) for k in keys]
    opt, loss_fn = optim.Adam(ours.parameters(), lr=1e-3), nn.CrossEntropyLoss()

    def ours_step():
        opt.zero_grad()
        loss_fn(ours(x), y).backward()
        opt.step()

    fns = {"numpy": make_numpy_cnn(x, y, params), "chainrule": ours_step}
    logits = {"numpy": lambda: numpy_cnn_logits(x, params), "chainrule": lambda: ours(x).numpy()}
    if "torch" in contenders:
        import torch

        theirs = torch_cnn(torch, _torch_dtype(torch, dtype))
        theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        opt_t = torch.optim.Adam(theirs.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            opt_t.zero_grad()
            torch.nn.functional.cross_entropy(theirs(xt), yt).backward()
            opt_t.step()

        fns["torch"] = torch_step
        logits["torch"] = lambda: theirs(xt).detach().numpy()
    return fns, logits


# -- measuring ------------------------------------------------------------------------------------


def _relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def bench_case(case: str, dtype, contenders: Sequence[str], preset: str
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    batch = TINY_BATCH if preset == "tiny" else SHAPES[case][0]
    dname = np.dtype(dtype).name
    checks: dict[str, Any] = {}
    agree: dict[str, float] = {}
    if case == "conv":
        fns = conv_contenders(dtype, batch, contenders)
        reference = fns["numpy"]()
        for name in contenders:
            if name != "numpy":
                got = fns[name]()
                agree[name] = max(_relative(got[0], reference[0]), _relative(got[2], reference[2]))
    else:
        fns, logits = cnn_contenders(dtype, batch, contenders)
        for name in contenders:  # one step each from the same weights, then the same logits
            fns[name]()
        reference = logits["numpy"]()
        agree = {name: _relative(logits[name](), reference) for name in contenders if name != "numpy"}
    for name, diff in agree.items():
        checks[f"{case}_{dname}_{name}"] = check(
            diff <= AGREE_TOL[dname],
            f"{name}, {case} {dname}: differs from the hand-written NumPy by {diff:.1e} (<= {AGREE_TOL[dname]:g})")
    warm, reps = REPEATS[preset]
    rounds = min(ROUNDS, reps)
    times = run_blocks(fns, rounds=rounds, per_block=-(-reps // rounds), warmup=max(1, warm // 2),
                       first_warmup=warm)
    floor = median(times["numpy"])
    what = SHAPES[case][3].format(batch=batch)
    rows = [{"case": case, "what": what, "dtype": dname, "batch": batch, "contender": name,
             "median_ms": median(times[name]) * 1e3, "min_ms": min(times[name]) * 1e3, "calls": len(times[name]),
             "ratio_to_numpy": ratio(median(times[name]), floor),
             "ratio_to_torch": ratio(median(times[name]), median(times["torch"])) if "torch" in times else None,
             "unstable": unstable(times[name]), "relative_diff": agree.get(name)}
            for name in contenders]
    return rows, checks


def run(preset: str = "quick", *, dtypes: Sequence[str] = ("float32", "float64"),
        contenders: Sequence[str] = CONTENDERS, threads: int | None = None, progress: bool = False,
        allocator: str = "steady") -> dict[str, Any]:
    """Run the benchmark and return its results (JSON-ready); ``preset`` is ``tiny``, ``quick`` or ``full``."""
    present, notes = floor_and_available(contenders)
    rows: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    with timing_run(threads, allocator, present) as facts:
        for case in SHAPES:
            for dtype in dtypes:
                r, c = bench_case(case, np.dtype(dtype).type, present, preset)
                rows.extend(r)
                checks.update(c)
                if progress:
                    print(f"  done {case} {dtype}", file=sys.stderr)
    return {"benchmark": "conv", "preset": preset, "method": {**METHOD, "rounds": ROUNDS}, "machine": facts,
            "contenders": present, "checks": checks, "notes": notes, "results": rows}


def summary_rows(results: dict[str, Any]) -> list[SummaryRow]:
    cases: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in results["results"]:
        cases.setdefault((r["case"], r["dtype"]), {})[r["contender"]] = r
    out = []
    for (_, dtype), by in cases.items():
        first = next(iter(by.values()))
        notes = {c: absent_note(c) for c in CONTENDERS if c not in by}
        flags = {c: "!" for c, r in by.items() if r.get("unstable")}
        out.append(SummaryRow(f"{first['what']} {dtype}", "ms", {c: r["median_ms"] for c, r in by.items()}, notes,
                              flags=flags))
    return out


def report(results: dict[str, Any]) -> str:
    lines = facts_lines(results["machine"])
    lines.append("Convolutions: median ms per forward + backward (Conv2d) or per Adam step (CNN); (×) = ratio to "
                 "hand-written NumPy")
    lines.append(summary_table(summary_rows(results)))
    lines += [f"{r['what']} {r['dtype']}: chainrule / PyTorch = {r['ratio_to_torch']:.2f}"
              for r in results["results"] if r["contender"] == "chainrule" and r["ratio_to_torch"] is not None]
    return end_report(lines, results)


def main(argv: list[str] | None = None, *, default_out: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conv", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS and torch to this many threads")
    add_allocator_argument(parser)
    add_script_arguments(parser, default_out)
    args = parser.parse_args(argv)
    preset = "tiny" if args.tiny else "quick" if args.quick else "full"
    results = run(preset, dtypes=args.dtypes.split(","), threads=args.threads, progress=True,
                  allocator=args.allocator)
    return finish(results, report, args.out)


if __name__ == "__main__":
    sys.exit(main())
