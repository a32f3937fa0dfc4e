"""Conv2d forward + backward and one step of the digits CNN: chainrule beside PyTorch eager, in one run.

    python benchmarks/conv2d.py [--rounds 5]

Cases (float32 and float64): a Conv2d of 32 3×3 filters on a batch of 64 28×28 one-channel images
(forward, then backward of the sum of the output's squares), and one Adam step of the network of
``examples/cnn_digits.py`` on a batch of 32 8×8 digits. Times alternate between the contenders
(``chainrule.bench.common.run_blocks``); the figures are medians, the ratio chainrule / PyTorch.
Not a test: it asserts nothing about time. It checks first that both compute the same output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.bench.common import median, run_blocks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


def conv_case(dtype, torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28)).astype(dtype)
    ours = nn.Conv2d(1, 32, 3, rng=0, dtype=dtype)
    theirs = torch.nn.Conv2d(1, 32, 3, dtype=torch.float32 if dtype == np.float32 else torch.float64)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    xt = torch.tensor(x)

    def ours_step():
        t = cr.tensor(x, requires_grad=True)
        (ours(t) ** 2).sum().backward()

    def theirs_step():
        t = xt.clone().requires_grad_(True)
        (theirs(t) ** 2).sum().backward()

    same = np.allclose(ours(x).numpy(), theirs(xt).detach().numpy(), rtol=1e-4, atol=1e-4)
    return {"chainrule": ours_step, "torch": theirs_step}, same


def cnn_case(dtype, torch):
    from cnn_digits import network

    rng = np.random.default_rng(1)
    x = rng.random((32, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 10, 32)
    ours = network(0).astype(dtype)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128, 10)).to(torch.float32 if dtype == np.float32 else torch.float64)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    opt, opt_t = optim.Adam(ours.parameters(), lr=1e-3), torch.optim.Adam(theirs.parameters(), lr=1e-3)
    loss_fn, xt, yt = nn.CrossEntropyLoss(), torch.tensor(x), torch.tensor(y)

    def ours_step():
        opt.zero_grad()
        loss_fn(ours(x), y).backward()
        opt.step()

    def theirs_step():
        opt_t.zero_grad()
        torch.nn.functional.cross_entropy(theirs(xt), yt).backward()
        opt_t.step()

    same = np.allclose(ours(x).numpy(), theirs(xt).detach().numpy(), rtol=1e-4, atol=1e-4)
    return {"chainrule": ours_step, "torch": theirs_step}, same


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "conv2d.json"))
    args = parser.parse_args(argv)
    rows = []
    for name, make in (("Conv2d 64×1×28×28, 32 3×3 filters, fwd+bwd", conv_case), ("digits CNN Adam step", cnn_case)):
        for dtype in (np.float32, np.float64):
            fns, same = make(dtype, torch)
            times = run_blocks(fns, rounds=args.rounds, per_block=3, warmup=1)
            ours, theirs = median(times["chainrule"]) * 1e3, median(times["torch"]) * 1e3
            rows.append({"case": name, "dtype": np.dtype(dtype).name, "chainrule_ms": ours, "torch_ms": theirs,
                         "ratio": ours / theirs, "same_output": bool(same)})
            print(f"{name:45s} {np.dtype(dtype).name:8s} chainrule {ours:8.2f} ms  PyTorch {theirs:8.2f} ms  "
                  f"ratio {ours / theirs:5.2f}  same output: {same}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"torch": torch.__version__, "results": rows}, indent=2))
    return 0 if all(r["same_output"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
