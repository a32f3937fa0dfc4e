"""The JSON rendering of a trace, and its schema.

Schema ``chainrule.trace/1`` (also given as a JSON Schema in :data:`SCHEMA`)::

    {
      "schema": "chainrule.trace/1",
      "title": str, "source": str, "kind": "expression" | "function",
      "output": str,                      # the output's name
      "inputs": [str], "wrt": [str],      # all inputs; those whose gradients were asked for
      "value": ARRAY,                     # the output value
      "gradients": {name: ARRAY},         # d output / d input (of its sum, if not a scalar)
      "check": {"ran": bool, "passed": bool, "eps": num, "atol": num, "rtol": num,
                "max_abs_error": num|str|null, "max_rel_error": num|str|null,
                "numeric": {name: ARRAY}, "text": str},
      "graph": {
        "variables": [{"id": "v0", "name": str, "kind": "input"|"constant"|"intermediate"|"output"|"leaf",
                       "shape": [int]|null, "value": ARRAY|null, "grad": ARRAY|null,
                       "producer": "op0"|null}],
        "ops": [{"id": "op0", "type": "Mul", "name": "mul", "symbol": "×",
                 "inputs": ["v0", ...], "output": "v2", "formula": "G = E · F"}],
        "edges": [["v0", "op0"], ["op0", "v2"], ...],   # forward edges
        "output": "v5"
      },
      "forward_steps": [{"step": int, "name": str, "operation": str, "formula": str,
                         "inputs": [str], "value": ARRAY|null, "op": "op0"}],
      "backward_steps": [{"step": int, "kind": "seed"|"op"|"sum", "name": str, "symbol": str,
                          "upstream": ARRAY|null, "formula": str|null, "op": "op0"|null,
                          "locals": [{"input": str, "symbol": str, "formula": str|null,
                                      "value": ARRAY|null, "chain": str, "contribution": ARRAY,
                                      "via": str}],
                          "terms": [{"via": str, "value": ARRAY}], "total": ARRAY|null}],
      "notes": [str],
      "second_order": null | {            # with order=2 (chainrule explain --order 2)
        "hessian": [{"of": str, "and": str, "symbol": str, "value": ARRAY, "numeric": ARRAY|null}],
        "check": {... as "check" above},
        "derivatives": {name: TRACE}      # d output / d name as a computation: the recorded backward graph
      }
    }

``ARRAY`` is a number (a scalar) or nested lists of numbers (row-major, as
``ndarray.tolist()``); NaN and infinities, which JSON cannot hold, are the strings
``"nan"``, ``"inf"`` and ``"-inf"``.
"""

from __future__ import annotations

import json
import math

import numpy as np

_NUM = {"type": ["number", "string"]}
_ARRAY = {"anyOf": [_NUM, {"type": "array"}]}
_ARRAY_OR_NULL = {"anyOf": [_NUM, {"type": "array"}, {"type": "null"}]}


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props, "required": required or list(props)}


#: JSON Schema (draft 2020-12) of :func:`to_json`'s output.
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "chainrule.trace/1",
    **_obj({
        "schema": {"const": "chainrule.trace/1"},
        "title": {"type": "string"},
        "source": {"type": "string"},
        "kind": {"enum": ["expression", "function"]},
        "output": {"type": "string"},
        "inputs": {"type": "array", "items": {"type": "string"}},
        "wrt": {"type": "array", "items": {"type": "string"}},
        "value": _ARRAY,
        "gradients": {"type": "object", "additionalProperties": _ARRAY},
        "check": _obj({
            "ran": {"type": "boolean"}, "passed": {"type": "boolean"}, "eps": {"type": "number"},
            "atol": {"type": "number"}, "rtol": {"type": "number"},
            "max_abs_error": {"type": ["number", "string", "null"]},
            "max_rel_error": {"type": ["number", "string", "null"]},
            "numeric": {"type": "object", "additionalProperties": _ARRAY}, "text": {"type": "string"},
        }),
        "graph": _obj({
            "variables": {"type": "array", "items": _obj({
                "id": {"type": "string"}, "name": {"type": "string"},
                "kind": {"enum": ["input", "constant", "intermediate", "output", "leaf"]},
                "shape": {"type": ["array", "null"]}, "value": _ARRAY_OR_NULL, "grad": _ARRAY_OR_NULL,
                "producer": {"type": ["string", "null"]},
            })},
            "ops": {"type": "array", "items": _obj({
                "id": {"type": "string"}, "type": {"type": "string"}, "name": {"type": "string"},
                "symbol": {"type": "string"}, "inputs": {"type": "array", "items": {"type": "string"}},
                "output": {"type": "string"}, "formula": {"type": "string"},
            })},
            "edges": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
            "output": {"type": "string"},
        }),
        "forward_steps": {"type": "array", "items": _obj({
            "step": {"type": "integer"}, "name": {"type": "string"}, "operation": {"type": "string"},
            "formula": {"type": "string"}, "inputs": {"type": "array", "items": {"type": "string"}},
            "value": _ARRAY_OR_NULL, "op": {"type": "string"},
        })},
        "backward_steps": {"type": "array", "items": _obj({
            "step": {"type": "integer"}, "kind": {"enum": ["seed", "op", "sum"]}, "name": {"type": "string"},
            "symbol": {"type": "string"}, "upstream": _ARRAY_OR_NULL, "formula": {"type": ["string", "null"]},
            "op": {"type": ["string", "null"]},
            "locals": {"type": "array", "items": _obj({
                "input": {"type": "string"}, "symbol": {"type": "string"}, "formula": {"type": ["string", "null"]},
                "value": _ARRAY_OR_NULL, "chain": {"type": "string"}, "contribution": _ARRAY,
                "via": {"type": "string"},
            })},
            "terms": {"type": "array", "items": _obj({"via": {"type": "string"}, "value": _ARRAY})},
            "total": _ARRAY_OR_NULL,
        })},
        "notes": {"type": "array", "items": {"type": "string"}},
        "second_order": {"anyOf": [{"type": "null"}, _obj({
            "hessian": {"type": "array", "items": _obj({
                "of": {"type": "string"}, "and": {"type": "string"}, "symbol": {"type": "string"},
                "value": _ARRAY, "numeric": _ARRAY_OR_NULL,
            })},
            "check": {"type": "object"},
            "derivatives": {"type": "object", "additionalProperties": {"type": "object"}},  # traces, as this one
        })]},
    }),
}


def _num(x: float):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def array(value):
    """An ndarray as JSON: a number or nested lists, non-finite values as strings; None stays None."""
    if value is None:
        return None
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return _num(a.item())

    def walk(x):
        return [walk(v) for v in x] if isinstance(x, list) else _num(x)

    return walk(a.tolist())


def _check_dict(c) -> dict:
    return {
        "ran": c.ran, "passed": bool(c.passed), "eps": c.eps, "atol": c.atol, "rtol": c.rtol,
        "max_abs_error": _num(c.max_abs_error) if c.ran else None,
        "max_rel_error": _num(c.max_rel_error) if c.ran else None,
        "numeric": {n: array(v) for n, v in c.numeric.items()}, "text": c.text,
    }


def _second_order(trace) -> dict | None:
    second = trace.second
    if second is None:
        return None
    o = trace.output
    return {
        "hessian": [{"of": a, "and": b, "symbol": f"∂²{o}/∂{a}²" if a == b else f"∂²{o}/∂{a}∂{b}",
                     "value": array(v), "numeric": array(second.numeric.get(a, {}).get(b))}
                    for a, row in second.hessian.items() for b, v in row.items()],
        "check": _check_dict(second.check),
        "derivatives": {name: to_dict(d) for name, d in second.derivatives.items()},
    }


def to_dict(trace) -> dict:
    """The trace as plain Python data following :data:`SCHEMA`."""
    g = trace.graph
    return {
        "schema": "chainrule.trace/1",
        "title": trace.title,
        "source": trace.source,
        "kind": trace.kind,
        "output": trace.output,
        "inputs": list(trace.inputs),
        "wrt": list(trace.wrt),
        "value": array(trace.value),
        "gradients": {n: array(v) for n, v in trace.gradients.items()},
        "check": _check_dict(trace.check),
        "graph": {
            "variables": [
                {
                    "id": f"v{v.index}", "name": v.name, "kind": v.kind,
                    "shape": None if v.shape is None else list(v.shape), "value": array(v.value),
                    "grad": array(v.grad), "producer": None if v.producer is None else f"op{v.producer}",
                }
                for v in g.vars
            ],
            "ops": [
                {
                    "id": f"op{n.index}", "type": n.type, "name": n.name, "symbol": n.symbol,
                    "inputs": [f"v{i}" for i in n.inputs], "output": f"v{n.output}", "formula": n.formula,
                }
                for n in g.nodes
            ],
            "edges": [list(e) for e in g.edges],
            "output": f"v{g.output}",
        },
        "forward_steps": [
            {
                "step": s.step, "name": s.name, "operation": s.operation, "formula": s.formula,
                "inputs": list(s.inputs), "value": array(s.value), "op": f"op{s.node}",
            }
            for s in trace.forward_steps
        ],
        "backward_steps": [
            {
                "step": s.step, "kind": s.kind, "name": s.name, "symbol": s.symbol,
                "upstream": array(s.upstream), "formula": s.formula,
                "op": None if s.node is None else f"op{s.node}",
                "locals": [
                    {
                        "input": loc.input, "symbol": loc.symbol, "formula": loc.formula, "value": array(loc.value),
                        "chain": loc.chain, "contribution": array(loc.contribution), "via": loc.via,
                    }
                    for loc in s.locals
                ],
                "terms": [{"via": t.via, "value": array(t.value)} for t in s.terms],
                "total": array(s.total),
            }
            for s in trace.backward_steps
        ],
        "notes": list(trace.notes),
        "second_order": _second_order(trace),
    }


def to_json(trace, indent: int = 2) -> str:
    """The trace as a JSON document (see the module docstring for the schema)."""
    return json.dumps(to_dict(trace), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
