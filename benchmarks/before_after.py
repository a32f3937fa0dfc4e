"""Before and after a change, in one sitting: the tiny-op and MLP benchmarks run on two source trees, alternating.

    git worktree add /tmp/before <commit>
    python benchmarks/before_after.py /tmp/before/src src [--rounds 4] [--sizes small]

Each round runs, for each tree (the order alternating from round to round), in fresh processes
importing chainrule from that tree:

- ``chainrule.bench.op_overhead --quick --no-torch``: a tiny op, forward and backward, on a
  1,000-op chain (gc paused), as a ratio to the same chain written by hand in NumPy;
- ``chainrule.bench.mlp_step --sizes SIZES --contenders numpy,chainrule``: an MLP training
  step, float32 and float64, as a ratio to the step written by hand in NumPy.

The figures compared are those ratios, each measured within one process: a process's own
state (where its heap lies, what the CPU caches hold) moves both contenders together, and
moved absolute times by 10 % between processes on the 2-core machine where this was written,
more than a budget of 5 %. It prints every round's ratios, the median per tree and the change.
This is how a feature's cost is checked against its budget. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def _run(src: str, module: str, args: list[str]) -> dict:
    """Run ``python -m chainrule.bench.MODULE ARGS --out FILE`` with chainrule from ``src``; its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.json")
        env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
        proc = subprocess.run([sys.executable, "-m", f"chainrule.bench.{module}", *args, "--out", out],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{module} failed on {src}:\n{proc.stderr.strip()[-2000:]}")
        with open(out, encoding="utf-8") as f:
            return json.load(f)


def measure(src: str, sizes: str) -> dict[str, float]:
    """``{case: chainrule / NumPy}`` for the tiny op and every MLP case, from the tree at ``src``."""
    ratios = {"tiny op fwd+bwd (1,000-op chain)": _run(src, "op_overhead", ["--quick", "--no-torch"])
              ["chain_1000_ratio_to_numpy"]["chainrule"]}
    mlp = _run(src, "mlp_step", ["--sizes", sizes, "--contenders", "numpy,chainrule"])
    for row in mlp["results"]:
        if row["contender"] == "chainrule":
            ratios[f"MLP step {row['size']} {row['dtype']}"] = row["ratio_to_numpy"]
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the source folder (holding chainrule/) of the tree before the change")
    parser.add_argument("after", help="the source folder of the tree after the change")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--sizes", default="small", help="MLP sizes, comma-separated (default small)")
    args = parser.parse_args(argv)
    for src in (args.before, args.after):
        if not os.path.isfile(os.path.join(src, "chainrule", "__init__.py")):
            parser.error(f"{src!r} holds no chainrule package (give the folder that contains chainrule/)")
    trees = {"before": args.before, "after": args.after}
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
            runs[name].append(measure(trees[name], args.sizes))
            line = "  ".join(f"{case} {ratio:.3f}×" for case, ratio in runs[name][-1].items())
            print(f"round {r + 1}  {name:6}  {line}", flush=True)
    print(f"\nchainrule / hand-written NumPy, median of {args.rounds} rounds:")
    for case in runs["before"][0]:
        b = statistics.median(x[case] for x in runs["before"])
        a = statistics.median(x[case] for x in runs["after"])
        print(f"  {case:36} before {b:.3f}×  after {a:.3f}×  change {100 * (a / b - 1):+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
