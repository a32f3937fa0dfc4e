"""The check report, for a learner (text, in English or Russian) or for tools (JSON, both the raw
fields and the rendered sentences)."""

from __future__ import annotations

import json
from typing import Any

from .catalog import Exercise
from .isolate import Outcome
from .messages import HINTS, KINDS, MESSAGES


def _fmt(value: Any) -> str:
    return str(tuple(value)) if isinstance(value, list) else str(value)


def describe(result: dict[str, Any], lang: str) -> list[str]:
    """The lines saying what went wrong in one failed check: where, expected against got, the error, the hint."""
    lines: list[str] = []
    d = result.get("detail") or {}
    where = []
    if d.get("input"):
        where.append(MESSAGES.text("input", lang, input=d["input"]))
    if d.get("gradient_of"):
        where.append(MESSAGES.text("gradient_of", lang, name=d["gradient_of"]))
    if d.get("problem") == "values":
        where.append(MESSAGES.text("element", lang, index=tuple(d["index"]), expected=d["expected"], got=d["got"],
                                   count=d["count"], size=d["size"]))
    elif d.get("problem") == "shape":
        where.append(MESSAGES.text("shapes", lang, expected=_fmt(d["expected_shape"]), got=_fmt(d["got_shape"])))
    extra = {k: v for k, v in d.items() if k not in ("input", "gradient_of", "problem", "index", "expected", "got",
                                                     "count", "size", "expected_shape", "got_shape")}
    if extra:
        where.append(", ".join(f"{k} {v}" for k, v in extra.items()))
    elif d.get("problem") is None and "expected" in d:
        where.append(f"{d['expected']} / {d['got']}")
    if where:
        lines.append("; ".join(where))
    if result.get("error"):
        lines.append(MESSAGES.text("raised", lang, error=result["error"]))
    if result.get("hint"):
        fields = {k: _fmt(v) for k, v in (result.get("hint_fields") or {}).items()}
        hint = HINTS.text(result["hint"], lang, **_needed(result["hint"], fields))
        lines.append(f"{MESSAGES.text('hint', lang)}: {hint}")
    return lines


def _needed(key: str, fields: dict[str, str]) -> dict[str, str]:
    """The fields a hint's text uses, with a blank for any the check did not give."""
    import string

    names = {f for _, f, _, _ in string.Formatter().parse(HINTS.texts[key]["en"]) if f}
    return {n: fields.get(n, "?") for n in names}


def status_line(outcome: Outcome, lang: str) -> str | None:
    """One line for a run that did not get to the checks (a timeout, memory, output, an import error)."""
    lim = outcome.limits
    if outcome.status == "timeout":
        return MESSAGES.text("timeout", lang, seconds=lim.get("timeout_s", 0))
    if outcome.status == "memory":
        return MESSAGES.text("memory", lang, mb=int(lim.get("memory_mb", 0)))
    if outcome.status == "output":
        return MESSAGES.text("output", lang, kb=int(lim.get("output_kb", 0)))
    if outcome.status == "import":
        return MESSAGES.text("import", lang, error=outcome.error)
    if outcome.status != "ok":
        return MESSAGES.text("crashed", lang, error=outcome.error)
    return None


def render_text(outcome: Outcome, ex: Exercise, file: str, lang: str) -> str:
    lines = [MESSAGES.text("report_title", lang, file=file, number=ex.number, name=ex.name)]
    problem = status_line(outcome, lang)
    if problem:
        lines.append("  " + problem)
        if outcome.printed.strip():
            lines += ["  | " + line for line in outcome.printed.strip().splitlines()[-8:]]
        return "\n".join(lines)
    for r in outcome.results:
        mark = MESSAGES.text("pass" if r["passed"] else "fail", lang)
        lines.append(f"  {mark:<6} {r['check']}: {KINDS.text(r['kind'], lang)}")
        if not r["passed"]:
            lines += ["         " + line for line in describe(r, lang)]
    failed = sum(not r["passed"] for r in outcome.results)
    n = len(outcome.results)
    lines.append(MESSAGES.text("all_passed", lang, n=n) if not failed
                 else MESSAGES.text("some_failed", lang, failed=failed, n=n))
    return "\n".join(lines)


def render_json(outcome: Outcome, ex: Exercise, file: str, lang: str) -> str:
    results = [{**r, "what": KINDS.text(r["kind"], lang), "explanation": describe(r, lang)} for r in outcome.results]
    return json.dumps({"file": file, "exercise": ex.name, "number": ex.number, "status": outcome.status,
                       "passed": outcome.passed, "problem": status_line(outcome, lang), "results": results,
                       "printed": outcome.printed[-2000:], "lang": lang}, ensure_ascii=False, indent=2)


__all__ = ["render_text", "render_json", "describe", "status_line"]
