"""Before and after a change, in one sitting: two chainrule source trees timed in alternating processes.

    git worktree add /tmp/before <commit>
    python benchmarks/before_after.py /tmp/before/src src [--rounds 6] [--repeats 30]

Each round runs one fresh process per tree (order alternating from round to round), and each
process times, with the garbage collector paused:

- a 1,000-op chain of tiny (4, 4) float64 ops (add a constant, multiply by one, tanh), forward
  and backward: microseconds per op;
- 50 steps of a small MLP (32-64-64-10, ReLU, float32, 64 rows, softmax cross-entropy, SGD):
  microseconds per step.

It prints each round's medians and, at the end, the median over rounds and the change. This is
how a feature's cost is checked against a budget ("at most 5 % slower"): on a shared machine only
figures measured side by side mean anything. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

WORKER = r"""
import gc, statistics, sys, time
import numpy as np
import chainrule as cr
from chainrule import nn, optim

repeats = int(sys.argv[1])
x0 = np.random.default_rng(0).standard_normal((4, 4))
c = np.full((4, 4), 0.5)

def chain(n=1000):
    y = cr.tensor(x0, requires_grad=True)
    for i in range(n):
        k = i % 3
        y = y + c if k == 0 else y * c if k == 1 else y.tanh()
    y.backward(np.ones((4, 4)))

rng = np.random.default_rng(0)
X = rng.standard_normal((64, 32)).astype(np.float32)
Y = rng.integers(0, 10, 64)
net = nn.MLP(32, [64, 64], 10, activation="relu", rng=0, dtype="float32")
opt = optim.SGD(net.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()

def step():
    opt.zero_grad()
    loss_fn(net(cr.tensor(X)), Y).backward()
    opt.step()

gc.disable()
for _ in range(3):
    chain()
    step()
per_op, per_step = [], []
for _ in range(repeats):
    t = time.perf_counter()
    chain()
    per_op.append((time.perf_counter() - t) / 1000 * 1e6)
    t = time.perf_counter()
    for _ in range(50):
        step()
    per_step.append((time.perf_counter() - t) / 50 * 1e6)
print(statistics.median(per_op), statistics.median(per_step))
"""


def measure(src: str, repeats: int) -> tuple[float, float]:
    """(µs per tiny op, µs per MLP step) from one fresh process importing chainrule from ``src``."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    out = subprocess.run([sys.executable, "-c", WORKER, str(repeats)], env=env, check=True,
                         capture_output=True, text=True).stdout
    per_op, per_step = map(float, out.split())
    return per_op, per_step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the source folder (holding chainrule/) of the tree before the change")
    parser.add_argument("after", help="the source folder of the tree after the change")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds (default 6)")
    parser.add_argument("--repeats", type=int, default=30, help="timed repetitions per process (default 30)")
    args = parser.parse_args(argv)
    for src in (args.before, args.after):
        if not os.path.isfile(os.path.join(src, "chainrule", "__init__.py")):
            parser.error(f"{src!r} holds no chainrule package (give the folder that contains chainrule/)")
    trees = {"before": args.before, "after": args.after}
    rows: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
            rows[name].append(measure(trees[name], args.repeats))
            op, step = rows[name][-1]
            print(f"round {r + 1}  {name:6}  tiny op {op:7.3f} µs   MLP step {step:8.1f} µs", flush=True)
    med = {name: (statistics.median(x for x, _ in v), statistics.median(y for _, y in v)) for name, v in rows.items()}
    for i, what, unit in ((0, "tiny op fwd+bwd", "µs/op"), (1, "small MLP step", "µs/step")):
        b, a = med["before"][i], med["after"][i]
        print(f"{what:16} before {b:8.3f}  after {a:8.3f} {unit}  change {100 * (a / b - 1):+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
