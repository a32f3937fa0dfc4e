"""The speed and memory targets of issues 2 and 6, read off a run's results: measured ratio, met or not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Growth after warm-up above which "no growth" is not met (MB over the whole run).
GROWTH_LIMIT_MB = 1.0


def _mlp_ratio(results: Mapping[str, Any], size: str, dtype: str) -> float | None:
    for r in results.get("results", []):
        if r["size"] == size and r["dtype"] == dtype and r["contender"] == "chainrule":
            return r["ratio_to_numpy"]
    return None


def evaluate(all_results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per target: ``target``, ``issue``, ``measured`` (text), ``value``, ``limit``, ``met`` (or None).

    ``all_results`` maps a benchmark's short name (``op``, ``linreg``, ``mlp``, ``memory``) to its results;
    targets whose benchmark did not run are listed as not measured (``met`` is None).
    """
    out: list[dict[str, Any]] = []

    def add(issue: int, target: str, value: float | None, limit: float, what: str, unit: str = "×") -> None:
        met = None if value is None else value <= limit
        measured = "not measured" if value is None else f"{value:.3g}{unit}" + (f" ({what})" if what else "")
        out.append({"issue": issue, "target": target, "value": value, "limit": limit, "measured": measured,
                    "met": met})

    op = all_results.get("op")
    vs_torch = op.get("chainrule_over_torch") if op else None
    long_ratio, long_what = None, ""
    if op:
        long_ratio = op[f"chain_{op['long_n']}_ratio_to_numpy"].get("chainrule")
        long_what = f"{op['long_n']:,}-op chain"
    short_what = f"chainrule / PyTorch, {op['short_n']:,}-op chain" if op else ""
    add(2, "tiny op fwd+bwd <= 0.6x PyTorch eager", vs_torch, 0.6, short_what)
    add(2, "1,000,000-op chain <= 4x the NumPy loop", long_ratio, 4.0, long_what)
    mlp = all_results.get("mlp")
    for size, limit in (("small", 1.5), ("medium", 1.05), ("large", 1.03)):
        for dtype in ("float32", "float64"):
            add(6, f"MLP step {size} {dtype} <= {limit}x NumPy", _mlp_ratio(mlp, size, dtype) if mlp else None,
                limit, "")
    add(6, "tiny op fwd+bwd <= 0.5x PyTorch eager", vs_torch, 0.5, short_what)
    lin = all_results.get("linreg")
    lin_ratio = None
    if lin:
        for entry in lin["results"]:
            if entry["problem"].startswith("diabetes"):
                lin_ratio = entry["methods"]["chainrule"]["ratio_vs_numpy"]
    add(6, "linear regression GD on diabetes <= 2x NumPy per step", lin_ratio, 2.0, "")
    mem = all_results.get("memory")
    add(6, "peak memory of a medium MLP step <= 1.2x NumPy", mem.get("peak_ratio") if mem else None, 1.2,
        "RSS above data+model")
    growth = None
    steps = 0
    if mem:
        growth = mem["figures"]["chainrule"]["growth"]["final_minus_after_warmup"]
        steps = mem["params"]["steps"]
    add(6, f"no memory growth over 10,000 steps (<= {GROWTH_LIMIT_MB:g} MB)", growth, GROWTH_LIMIT_MB,
        f"over {steps:,} steps" if mem else "", unit=" MB")
    return out


def targets_table(entries: list[dict[str, Any]], *, markdown: bool = False) -> str:
    from .common import markdown_table, text_table

    rows = [[f"#{e['issue']}", e["target"], e["measured"],
             "not measured" if e["met"] is None else "met" if e["met"] else "NOT MET"] for e in entries]
    header = ["issue", "target", "measured", "status"]
    return markdown_table(header, rows) if markdown else text_table(header, rows, align="llll")
