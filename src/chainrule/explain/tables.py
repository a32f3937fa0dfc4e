"""The tables every rendering of a trace is made from: inputs, forward pass, backward pass,
chain rule and result, in Unicode strings; and the paths the chain rule sums over."""

from __future__ import annotations

from dataclasses import dataclass

from .notation import fmt_shape, fmt_value
from .words import WORDS


@dataclass
class Table:
    """A titled table of Unicode strings, shared by the text, rich, Markdown and HTML renderings."""

    title: str
    headers: list[str]
    rows: list[list[str]]


def caption(trace, lang: str | None = None) -> str:
    """The closing lines every rendering carries: value, gradients, gradient check."""
    parts = [f"{trace.output} = {fmt_value(trace.value)}"]
    parts += [f"∂{trace.output}/∂{n} = {fmt_value(g)}" for n, g in trace.gradients.items()]
    parts.append(trace.check.describe(lang))
    return "\n".join(parts)


# -- the tables -------------------------------------------------------------------------------------


def _local_cells(trace, loc) -> tuple[str, str, str]:
    o = trace.output
    local = loc.text
    value = "" if loc.value is None else fmt_value(loc.value)
    passed = f"∂{o}/∂{loc.input} ← {loc.chain} = {fmt_value(loc.contribution)}"
    return local, value, passed


def tables(trace, lang: str | None = None) -> list[Table]:
    """Inputs, forward pass, backward pass and result, as :class:`Table` objects, in ``lang``."""
    def w(key: str, **fields) -> str:
        return WORDS.text(key, lang, **fields)

    g = trace.graph
    inputs = Table(w("inputs"), [w("name"), w("shape"), w("value"), w("gradient")], [])
    for name in trace.inputs:
        v = g.var(name)
        inputs.rows.append([name, fmt_shape(v.shape) if v.shape else w("scalar"), fmt_value(v.value),
                            w("wanted") if name in trace.wrt else "—"])
    forward = Table(w("forward"), [w("step"), w("name"), w("operation"), w("operands"), w("value")], [])
    for s in trace.forward_steps:
        ins = operands_text(g, s.inputs)
        forward.rows.append([str(s.step), s.name, s.formula, ins, fmt_value(s.value)])
    o = trace.output
    backward = Table(w("backward"), [w("step"), w("at"), w("upstream"), w("local"), w("its_value"),
                                     w("passed_down")], [])
    for s in trace.backward_steps:
        if s.kind == "seed":
            backward.rows.append([str(s.step), s.name, f"{s.symbol} = {fmt_value(s.upstream)}", w("start"), "", ""])
        elif s.kind == "sum":
            terms = " + ".join(f"{fmt_value(t.value)} ({w('via', name=t.via)})" for t in s.terms)
            backward.rows.append([
                str(s.step), s.name, w("sum_of_paths", n=len(s.terms)), f"{s.symbol} = {terms}", "",
                f"{s.symbol} = {fmt_value(s.total)}",
            ])
        else:
            first = True
            for loc in s.locals or [None]:
                cells = ["", "", ""] if loc is None else list(_local_cells(trace, loc))
                backward.rows.append([
                    str(s.step) if first else "", s.formula if first else "",
                    f"{s.symbol} = {fmt_value(s.upstream)}" if first else "", *cells,
                ])
                first = False
    chain = Table(w("chain"), [w("gradient"), w("paths"), w("value")], [])
    for name, grad in trace.gradients.items():
        chain.rows.append([f"∂{o}/∂{name}", chain_text(trace, name, lang=lang), fmt_value(grad)])
    result = Table(w("result"), ["", w("value"), w("finite_differences")], [[o, fmt_value(trace.value), ""]])
    for name, grad in trace.gradients.items():
        num = trace.check.numeric.get(name)
        result.rows.append([f"∂{o}/∂{name}", fmt_value(grad), "" if num is None else fmt_value(num)])
    out = [inputs, forward, backward, chain, result]
    if trace.second is not None:
        out += second_order_tables(trace, lang)
    return out


def second_order_tables(trace, lang: str | None = None) -> list[Table]:
    """For ``order=2``: each first derivative as the computation the recorded backward pass made
    of it, then the table of second derivatives with their finite-difference check."""
    def w(key: str, **fields) -> str:
        return WORDS.text(key, lang, **fields)

    o, second = trace.output, trace.second
    out = []
    for name, d in second.derivatives.items():
        recorded = Table(w("recorded", d=f"∂{o}/∂{name}"),
                         [w("step"), w("name"), w("operation"), w("operands"), w("value")], [])
        for s in d.forward_steps:
            recorded.rows.append([str(s.step), s.name, s.formula, operands_text(d.graph, s.inputs),
                                  fmt_value(s.value)])
        if not d.forward_steps:
            recorded.rows.append(["", "", w("constant", d=f"∂{o}/∂{name}"), "", ""])
        out.append(recorded)
    table = Table(w("second"), ["", w("value"), w("finite_differences")], [])
    for a, row in second.hessian.items():
        for b, value in row.items():
            symbol = f"∂²{o}/∂{a}²" if a == b else f"∂²{o}/∂{a}∂{b}"
            num = second.numeric.get(a, {}).get(b)
            table.rows.append([symbol, fmt_value(value), "" if num is None else fmt_value(num)])
    out.append(table)
    out.append(Table(w("second_check"), ["", w("check_result")],
                     [["gradgradcheck", second.check.describe(lang).replace("gradcheck: ", "")]]))
    return out


def chain_text(trace, name: str, d=None, mul=None, plus=" + ", lang: str | None = None) -> str:
    """``∂H/∂G · ∂G/∂E · ∂E/∂A`` (+ … for each further path), or a count when there are many."""
    d = d or (lambda y, x: f"∂{y}/∂{x}")
    mul = mul or (lambda parts: " · ".join(parts))
    paths = chain_paths(trace, name)
    if paths is None:
        return WORDS.text("more_paths", lang)
    if not paths:
        return WORDS.text("no_path", lang)
    return plus.join(mul([d(p[k], p[k + 1]) for k in range(len(p) - 1)]) if len(p) > 1 else "1" for p in paths)


def operands_text(graph, names: list[str]) -> str:
    """``E = 3, F = 2`` for a step's operands (a constant written as its value is left out)."""
    parts = []
    for n in dict.fromkeys(names):
        v = graph.var(n)
        text = fmt_value(v.value)
        if not (v.kind == "constant" and text == n):
            parts.append(f"{n} = {text}")
    return ", ".join(parts)


#: Chains with more paths than this are summarised instead of written out.
MAX_PATHS = 6


def chain_paths(trace, name: str) -> list[list[str]] | None:
    """Every path from the output down to input ``name``, as lists of variable names
    (output first); None when there are more than :data:`MAX_PATHS`.

    ``∂H/∂A`` is the sum over these paths of the product of the local derivatives along
    each: the chain rule, ``∂H/∂A = ∂H/∂G · ∂G/∂E · ∂E/∂A``.
    """
    g = trace.graph
    target = g.var(name).index
    paths: list[list[int]] = []
    stack = [[g.output]]
    while stack:
        path = stack.pop()
        v = g.vars[path[-1]]
        if v.index == target:
            paths.append(path)
            if len(paths) > MAX_PATHS:
                return None
            continue
        if v.producer is None:
            continue
        for i in reversed(dict.fromkeys(g.nodes[v.producer].inputs)):
            if g.vars[i].wants_grad:
                stack.append(path + [i])
    return [[g.vars[i].name for i in p] for p in paths]
