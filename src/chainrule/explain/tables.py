"""The tables every rendering of a trace is made from: inputs, forward pass, backward pass,
chain rule and result, in Unicode strings; and the paths the chain rule sums over."""

from __future__ import annotations

from dataclasses import dataclass

from .notation import fmt_shape, fmt_value


@dataclass
class Table:
    """A titled table of Unicode strings, shared by the text, rich, Markdown and HTML renderings."""

    title: str
    headers: list[str]
    rows: list[list[str]]


def caption(trace) -> str:
    """The closing lines every rendering carries: value, gradients, gradient check."""
    parts = [f"{trace.output} = {fmt_value(trace.value)}"]
    parts += [f"∂{trace.output}/∂{n} = {fmt_value(g)}" for n, g in trace.gradients.items()]
    parts.append(trace.check.text)
    return "\n".join(parts)


# -- the tables -------------------------------------------------------------------------------------


def _local_cells(trace, loc) -> tuple[str, str, str]:
    o = trace.output
    local = loc.text
    value = "" if loc.value is None else fmt_value(loc.value)
    passed = f"∂{o}/∂{loc.input} ← {loc.chain} = {fmt_value(loc.contribution)}"
    return local, value, passed


def tables(trace) -> list[Table]:
    """Inputs, forward pass, backward pass and result, as :class:`Table` objects."""
    g = trace.graph
    inputs = Table("Inputs", ["name", "shape", "value", "gradient"], [])
    for name in trace.inputs:
        v = g.var(name)
        inputs.rows.append([name, fmt_shape(v.shape or ()), fmt_value(v.value), "wanted" if name in trace.wrt else "—"])
    forward = Table("Forward pass (compute and keep every intermediate: the cache)",
                    ["step", "name", "operation", "inputs", "value"], [])
    for s in trace.forward_steps:
        ins = operands_text(g, s.inputs)
        forward.rows.append([str(s.step), s.name, s.formula, ins, fmt_value(s.value)])
    o = trace.output
    backward = Table(
        "Backward pass (upstream gradient × local derivative, passed down; summed where paths meet)",
        ["step", "at", "upstream", "local derivative", "its value", "passed down"], [],
    )
    for s in trace.backward_steps:
        if s.kind == "seed":
            backward.rows.append([str(s.step), s.name, f"{s.symbol} = {fmt_value(s.upstream)}", "start", "", ""])
        elif s.kind == "sum":
            terms = " + ".join(f"{fmt_value(t.value)} (via {t.via})" for t in s.terms)
            backward.rows.append([
                str(s.step), s.name, f"sum of {len(s.terms)} paths", f"{s.symbol} = {terms}", "",
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
    chain = Table("Chain rule (sum over paths of the product of local derivatives)", ["gradient", "paths", "value"],
                  [])
    for name, grad in trace.gradients.items():
        chain.rows.append([f"∂{o}/∂{name}", chain_text(trace, name), fmt_value(grad)])
    result = Table("Result", ["", "value", "finite differences"], [[o, fmt_value(trace.value), ""]])
    for name, grad in trace.gradients.items():
        num = trace.check.numeric.get(name)
        result.rows.append([f"∂{o}/∂{name}", fmt_value(grad), "" if num is None else fmt_value(num)])
    out = [inputs, forward, backward, chain, result]
    if trace.second is not None:
        out += second_order_tables(trace)
    return out


def second_order_tables(trace) -> list[Table]:
    """For ``order=2``: each first derivative as the computation the recorded backward pass made
    of it, then the table of second derivatives with their finite-difference check."""
    o, second = trace.output, trace.second
    out = []
    for name, d in second.derivatives.items():
        recorded = Table(f"Recorded backward graph of ∂{o}/∂{name} (create_graph=True: the ops the backward "
                         f"pass recorded, and the forward ones whose values they use)",
                         ["step", "name", "operation", "inputs", "value"], [])
        for s in d.forward_steps:
            recorded.rows.append([str(s.step), s.name, s.formula, operands_text(d.graph, s.inputs),
                                  fmt_value(s.value)])
        if not d.forward_steps:
            recorded.rows.append(["", "", f"∂{o}/∂{name} is a constant: nothing is recorded", "", ""])
        out.append(recorded)
    table = Table("Second derivatives (the recorded backward graph, differentiated again)",
                  ["", "value", "finite differences"], [])
    for a, row in second.hessian.items():
        for b, value in row.items():
            symbol = f"∂²{o}/∂{a}²" if a == b else f"∂²{o}/∂{a}∂{b}"
            num = second.numeric.get(a, {}).get(b)
            table.rows.append([symbol, fmt_value(value), "" if num is None else fmt_value(num)])
    out.append(table)
    out.append(Table("Second-derivative check", ["", "result"], [["gradgradcheck", second.check.text.replace(
        "gradcheck: ", "")]]))
    return out


def chain_text(trace, name: str, d=None, mul=None, plus=" + ") -> str:
    """``∂H/∂G · ∂G/∂E · ∂E/∂A`` (+ … for each further path), or a count when there are many."""
    d = d or (lambda y, x: f"∂{y}/∂{x}")
    mul = mul or (lambda parts: " · ".join(parts))
    paths = chain_paths(trace, name)
    if paths is None:
        return "more paths than written out"
    if not paths:
        return "no path (0)"
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
