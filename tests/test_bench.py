"""Smoke tests of the benchmarks (chainrule.bench, benchmarks/*.py, ``chainrule bench``) at tiny sizes.

They check the outputs' structure and that the benchmarks' own correctness
pre-checks pass (every contender computes the same numbers). They never assert
a time or a ratio: those belong to the benchmarks, not to the tests.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.bench import common, conv, hvp, linreg, memory, mlp_step, op_overhead
from chainrule.cli import main

ROOT = Path(__file__).resolve().parents[1]


def all_checks_passed(results: dict) -> None:
    assert results["checks"], "a benchmark without correctness pre-checks"
    assert common.failed_checks(results) == []


@pytest.fixture(scope="module")
def op_results():
    return op_overhead.run("tiny", n=30, rounds=1, per_block=1, long_n=60)


@pytest.fixture(scope="module")
def mlp_results():
    return mlp_step.run("tiny", dtypes=("float32", "float64"))


@pytest.fixture(scope="module")
def memory_results():
    return memory.run("tiny")


# -- the shared method ----------------------------------------------------------------------------


def test_run_blocks_pauses_gc_in_timed_calls_and_alternates():
    seen: list[tuple[str, bool]] = []

    def fn(key):
        return lambda: seen.append((key, gc.isenabled()))

    times = common.run_blocks({"a": fn("a"), "b": fn("b"), "c": fn("c")}, rounds=4, per_block=2, warmup=1,
                              gc_paused={"c": False})
    assert gc.isenabled()
    assert {k: len(v) for k, v in times.items()} == {"a": 8, "b": 8, "c": 8}
    assert all(t >= 0 for v in times.values() for t in v)
    # Each block: one warm-up call (gc on) then two timed calls (gc paused, except for "c").
    blocks = [seen[i:i + 3] for i in range(0, len(seen), 3)]
    assert [b[0][0] for b in blocks] == list("abc" "acb" "cab" "cba")
    for block in blocks:
        key = block[0][0]
        assert block[0][1] is True
        assert [enabled for _, enabled in block[1:]] == [key == "c"] * 2


def test_timed_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        common.timed(lambda: None)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_machine_facts_and_tables():
    facts = common.machine_facts(("torch", "sklearn"))
    for key in ("python", "numpy", "chainrule", "cpu", "cpus", "blas"):
        assert key in facts
    assert facts["blas"] and "num_threads" in facts["blas"][0]
    lines = common.facts_lines(facts)
    assert any(line.startswith("BLAS: ") for line in lines)
    row = common.SummaryRow("case", "ms", {"numpy": 2.0, "chainrule": 3.0}, {"torch": "not installed"})
    text = common.summary_table([row])
    assert "1.50×" in text and "not installed" in text and "n/a" in text  # sklearn: n/a
    assert common.summary_table([row], markdown=True).startswith("| case |")
    assert json.loads(json.dumps(row.to_dict()))["ratio_to_numpy"]["chainrule"] == 1.5


def test_a_missing_optional_contender_is_skipped_with_a_note(monkeypatch):
    real = common.optional
    monkeypatch.setattr(common, "optional", lambda name: None if name in ("torch", "sklearn") else real(name))
    results = op_overhead.run("tiny", n=6, rounds=1, per_block=1, long_n=6)
    assert "torch" not in results["chain_6_us_per_op"]
    assert any("PyTorch not installed" in n for n in results["notes"])
    assert "not installed" in common.summary_table(op_overhead.summary_rows(results))
    all_checks_passed(results)



_GLIBC = sys.platform.startswith("linux") and __import__("platform").libc_ver()[0] == "glibc"

#: Run in a fresh process (malloc's settings are the process's, for good): what fix_allocator reports
#: before and after, and where a 20 MiB block comes from and whether freeing it shrinks the heap.
_ALLOCATOR_PROBE = """
import ctypes, json
import numpy as np
from chainrule.bench import common
libc = ctypes.CDLL(None)
libc.sbrk.restype = ctypes.c_void_p
before = common.fix_allocator("default")
steady = common.fix_allocator("steady")
block = np.ones(20 * common.MB // 8)
top = libc.sbrk(0)
in_heap = block.ctypes.data < top  # the heap lies below the break; mapped blocks lie far above it
del block
print(json.dumps({"before": before, "steady": steady, "after": common.fix_allocator("default"),
                  "in_heap": in_heap, "kept": libc.sbrk(0) == top}))
"""


def test_fix_allocator_rejects_an_unknown_name():
    with pytest.raises(ValueError, match="allocator must be one of steady, default"):
        common.fix_allocator("jemalloc")


@pytest.mark.skipif(not _GLIBC, reason="mallopt is glibc's")
def test_a_steady_allocator_serves_big_blocks_from_the_heap_and_keeps_them():
    proc = subprocess.run([sys.executable, "-c", _ALLOCATOR_PROBE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["before"].startswith("as the process found it")
    assert "fixed for every contender alike" in r["steady"] and "32 MiB" in r["steady"]
    assert r["after"].endswith("(set earlier in this process)")
    # Left alone, glibc maps a fresh 20 MiB block of its own, outside the heap, and unmaps it when freed.
    assert r["in_heap"]  # from the heap ...
    assert r["kept"]  # ... which keeps the memory for the next step instead of handing it back


def test_timing_benchmarks_record_the_allocator(mlp_results, op_results):
    for results in (mlp_results, op_results):
        assert results["machine"]["allocator"]
        assert any(line.startswith("malloc: ") for line in common.facts_lines(results["machine"]))

# -- the four benchmarks ----------------------------------------------------------------------------


def test_op_overhead_structure_and_checks(op_results):
    r = op_results
    all_checks_passed(r)
    assert r["benchmark"] == "op_overhead" and r["short_n"] == 30 and r["long_n"] == 60
    for key in ("chain_30_us_per_op", "chain_30_us_per_op_gc_on", "chain_60_us_per_op", "chain_60_us_per_op_gc_on"):
        assert {"numpy", "chainrule"} <= set(r[key]) and all(v > 0 for v in r[key].values())
    assert r["chain_30_ratio_to_numpy"]["numpy"] == 1.0
    assert "torch" not in r["chain_60_us_per_op"]  # the long chain is chainrule against the NumPy loop
    text = op_overhead.report(r)
    assert "gc paused" in text and "gc on" in text and "cost of the cyclic GC" in text
    json.dumps(r)


def test_the_floor_and_chainrule_chains_agree():
    rng = np.random.default_rng(1)
    x0, c = rng.standard_normal((4, 4)), rng.uniform(0.5, 1.0, (4, 4))
    np.testing.assert_allclose(op_overhead.chainrule_chain(x0, c, 7), op_overhead.numpy_chain(x0, c, 7), rtol=1e-12)


def test_linreg_structure_and_checks():
    r = linreg.run("tiny", large_n=500, features=3)
    all_checks_passed(r)
    (entry,) = r["results"]
    assert entry["n"] == 500 and entry["d"] == 3
    methods = entry["methods"]
    assert {"numpy", "chainrule", "chainrule.fit"} <= set(methods)
    assert len({m["iterations"] for m in methods.values()}) == 1
    assert all(m["reached"] for m in methods.values())
    cases = [row.case for row in linreg.summary_rows(r)]
    assert any("via fit()" in c for c in cases)
    json.dumps(r)


def test_mlp_step_structure_and_checks(mlp_results):
    r = mlp_results
    all_checks_passed(r)
    by = {(row["dtype"], row["contender"]) for row in r["results"]}
    assert {("float32", "numpy"), ("float32", "chainrule"), ("float64", "chainrule")} <= by
    for row in r["results"]:
        assert row["median_ms"] > 0 and row["steps"] >= 1
    assert len(mlp_step.summary_rows(r)) == 2
    assert "max |difference|" in mlp_step.report(r)


def test_numpy_mlp_floor_matches_chainrule_step():
    x, y, params = mlp_step.make_case("tiny", np.float64)
    agree = mlp_step.agreement(params, x, y, np.float64, ["numpy", "chainrule"])
    assert agree["chainrule"]["max_abs_diff"] < 1e-12 and agree["chainrule"]["dtypes"] == ["float64"]


def test_hvp_structure_and_checks():
    """The three Hessian-vector products agree (the checks), and the table sets chainrule beside PyTorch."""
    r = hvp.run("tiny", dtypes=("float32", "float64"))
    all_checks_passed(r)
    by = {(row["dtype"], row["contender"]) for row in r["results"]}
    assert {("float32", "numpy"), ("float64", "chainrule")} <= by
    assert len(hvp.summary_rows(r)) == 2 and "Hessian-vector product" in hvp.report(r)
    json.dumps(r)


def test_hvp_floor_is_the_hessian_times_v():
    """The hand-written R-operator equals H v from the Hessian formed by finite differences of the gradient."""
    from chainrule import func

    x, y, params = mlp_step.make_case("tiny", np.float64)
    v = hvp.direction(params)
    by_hand = hvp.make_numpy(params, x, y, v)()
    recorded = hvp.make_chainrule(params, x, y, v)()
    for a, b in zip(by_hand, recorded):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    W0 = params[0][0]

    def loss_of_w0(w):
        from chainrule import nn

        h = (cr.as_tensor(x) @ w.T + params[0][1]).relu()
        for W, b in params[1:-1]:
            h = (h @ cr.as_tensor(W).T + b).relu()
        return nn.CrossEntropyLoss()(h @ cr.as_tensor(params[-1][0]).T + params[-1][1], y)

    H = func.hessian(loss_of_w0, W0).numpy().reshape(W0.size, W0.size)  # the W0 block only: v elsewhere set to 0
    only_w0 = [v[0]] + [np.zeros_like(a) for a in v[1:]]
    np.testing.assert_allclose(hvp.make_numpy(params, x, y, only_w0)()[0].reshape(-1), H @ v[0].reshape(-1),
                               rtol=1e-9, atol=1e-12)


def test_conv_structure_and_checks():
    """Hand-written NumPy, chainrule and PyTorch agree on the Conv2d (output, filters' gradient) and on the
    CNN's logits after one Adam step; the table has one row per case and dtype."""
    r = conv.run("tiny", dtypes=("float32", "float64"))
    all_checks_passed(r)
    assert {"conv_float64_chainrule", "cnn_float32_chainrule"} <= set(r["checks"])
    assert len(conv.summary_rows(r)) == 4 and "digits CNN Adam step, batch 4" in conv.report(r)
    json.dumps(r)


def test_conv_floor_is_the_gradient():
    """The hand-written convolution's backward pass is the gradient of the sum of its squares: checked by
    finite differences of its own forward, in float64, for the input, the filters and the bias."""
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)

    def loss(x, w, b):
        return float((conv.conv_forward(x, w, b, 1)[0] ** 2).sum())

    out, cache = conv.conv_forward(x, w, b, 1)
    grads = conv.conv_backward(2 * out, cache)
    for k, arg in enumerate((x, w, b)):
        numeric = np.zeros_like(arg)
        for i in np.ndindex(arg.shape):
            args = [x.copy(), w.copy(), b.copy()]
            args[k][i] += 1e-6
            up = loss(*args)
            args[k][i] -= 2e-6
            numeric[i] = (up - loss(*args)) / 2e-6
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-6, atol=1e-6)


def test_memory_structure_and_checks(memory_results):
    r = memory_results
    all_checks_passed(r)
    for c in ("numpy", "chainrule"):
        f = r["figures"][c]
        assert f["base_rss_mb"] > 0 and f["peak_above_base_mb"] >= 0 and f["traced_peak_above_base_mb"] > 0
        assert set(f["growth"]) >= {"final_minus_after_warmup", "slope_mb_per_1000_steps", "max_minus_min"}
        assert r["samples"][c][-1][0] == r["params"]["steps"]
    assert "peak_ratio" in r and "growth" in memory.report(r)
    assert len(memory.summary_rows(r)) == 3
    json.dumps(r)


def test_the_soak_fails_on_a_megabyte_of_growth_after_warmup():
    mb = memory.MB
    flat = [[s, 100 * mb + (5 * mb if s < 1000 else 0.01 * mb * s / 100_000)] for s in range(0, 100_001, 1000)]
    grows = [[s, 100 * mb + 1.5 * mb * s / 100_000] for s in range(0, 100_001, 1000)]
    assert memory.flat_memory(flat, warmup=1000)["passed"]  # the warm-up's growth does not count
    result = memory.flat_memory(grows, warmup=1000)
    assert not result["passed"] and "+1.485 MB" in result["detail"]
    assert not memory.flat_memory(flat[:1], warmup=1000)["passed"]


def test_memory_growth_is_a_least_squares_slope_after_warmup():
    samples = [[10, 100.0, 0.0], [20, 500.0, 0.0], [30, 1000.0, 0.0], [40, 1010.0, 0.0], [50, 1020.0, 0.0]]
    g = memory.growth(samples, warmup=30)
    assert g["final_minus_after_warmup"] == 20.0 and g["max_minus_min"] == 20.0
    assert g["slope_per_1000_steps"] == pytest.approx(1000.0)
    assert memory.growth(samples[:1], warmup=0)["final_minus_after_warmup"] is None


# -- the command and the scripts ------------------------------------------------------------------


def test_bench_command_prints_one_table_and_writes_json(capsys, tmp_path):
    assert main(["bench", "--only", "op", "--tiny", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("case"))
    for column in ("chainrule", "NumPy by hand", "PyTorch", "scikit-learn"):
        assert column in header
    assert "BLAS:" in out and "machine:" in out and "malloc:" in out and "tiny op fwd+bwd" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rows"] and summary["problems"] == []
    assert json.loads((tmp_path / "op_overhead.json").read_text())["benchmark"] == "op_overhead"


def test_bench_command_rejects_an_unknown_benchmark(capsys):
    assert main(["bench", "--only", "op,warp"]) == 2
    assert "warp" in capsys.readouterr().err


def test_thin_script_runs_the_packaged_benchmark(tmp_path):
    out = tmp_path / "op.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "op_overhead.py"), "--tiny", "--no-torch",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "gc paused" in proc.stdout
    assert json.loads(out.read_text())["checks"]
