"""The check report, for a learner (text, in English or Russian) or for tools (JSON, both the raw
fields and the rendered sentences)."""

from __future__ import annotations

import json
import math
from typing import Any

from .catalog import Exercise
from .isolate import Outcome
from .messages import HINTS, KINDS, MESSAGES, NAMES


def _fmt(value: Any) -> str:
    return str(tuple(value)) if isinstance(value, list) else str(value)


def _num(value: Any) -> str:
    return "None" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def describe(result: dict[str, Any], lang: str) -> list[str]:
    """The lines saying what went wrong in one failed check: where, expected against got, the error, the hint."""
    lines: list[str] = []
    d = dict(result.get("detail") or {})
    where = []
    if d.pop("input", None) is not None:
        where.append(MESSAGES.text("input", lang, input=result["detail"]["input"]))
    if d.get("gradient_of"):
        where.append(MESSAGES.text("gradient_of", lang, name=d.pop("gradient_of")))
    problem = d.pop("problem", None)
    if problem == "values":
        where.append(MESSAGES.text("element", lang, index=tuple(d.pop("index")), expected=d.pop("expected"),
                                   got=d.pop("got"), count=d.pop("count"), size=d.pop("size")))
    elif problem == "shape":
        where.append(MESSAGES.text("shapes", lang, expected=_fmt(d.pop("expected_shape")),
                                   got=_fmt(d.pop("got_shape"))))
    elif problem == "not_numbers":
        where.append(MESSAGES.text("not_numbers", lang, type=d.pop("got_type")))
    for name, pair in (d.pop("gradients", None) or {}).items():
        where.append(MESSAGES.text("gradient_row", lang, name=name, expected=_num(pair["expected"]),
                                   got=_num(pair["got"])))
    if "dtypes" in d:
        where.append(MESSAGES.text("dtypes", lang, dtypes=d.pop("dtypes")))
    if "expected" in d and "got" in d:
        where.append(MESSAGES.text("expected_got", lang, expected=_num(d.pop("expected")), got=_num(d.pop("got"))))
    elif "got" in d:
        where.append(MESSAGES.text("got", lang, got=_num(d.pop("got"))))
    if d:
        where.append(", ".join(f"{k} {_num(v)}" for k, v in d.items()))
    if where:
        lines.append("; ".join(where))
    if result.get("error"):
        lines.append(MESSAGES.text("raised", lang, error=result["error"]))
    if result.get("hint"):
        fields = {k: _fmt(v) for k, v in (result.get("hint_fields") or {}).items()}
        hint = HINTS.text(result["hint"], lang, **_needed(result["hint"], fields))
        lines.append(f"{MESSAGES.text('hint', lang)}: {hint}")
    return lines


def title(result: dict[str, Any], lang: str) -> str:
    """The check's name in ``lang`` (a block's name as it is; the others from :data:`NAMES`)."""
    label = result.get("label")
    return NAMES.text(label[0], lang, **label[1]) if label else result["check"]


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
    if outcome.status == "exited":
        return MESSAGES.text("exited", lang, code=outcome.error)
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
        lines.append(f"  {mark:<6} {title(r, lang)}: {KINDS.text(r['kind'], lang)}")
        if not r["passed"]:
            lines += ["         " + line for line in describe(r, lang)]
    failed = sum(not r["passed"] for r in outcome.results)
    n = len(outcome.results)
    lines.append(MESSAGES.text("all_passed", lang, n=n) if not failed
                 else MESSAGES.text("some_failed", lang, failed=failed, n=n))
    return "\n".join(lines)


def _strict(value: Any) -> Any:
    """JSON without NaN or Infinity (which strict parsers refuse): such floats as the strings "nan", "inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def render_json(outcome: Outcome, ex: Exercise, file: str, lang: str) -> str:
    results = [{**r, "title": title(r, lang), "what": KINDS.text(r["kind"], lang), "explanation": describe(r, lang)}
               for r in outcome.results]
    report = {"file": file, "exercise": ex.name, "number": ex.number, "status": outcome.status,
              "passed": outcome.passed, "problem": status_line(outcome, lang), "results": results,
              "printed": outcome.printed[-2000:], "lang": lang}
    return json.dumps(_strict(report), ensure_ascii=False, indent=2, allow_nan=False)


__all__ = ["render_text", "render_json", "describe", "status_line"]
