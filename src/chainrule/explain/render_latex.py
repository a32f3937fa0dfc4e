"""The LaTeX rendering: booktabs tables of the forward and backward passes and the
chain-rule equations, as a whole document (compiles with ``pdflatex``) or a fragment."""

from __future__ import annotations

import numpy as np

from .notation import LATEX, fmt_shape, is_full, latex_escape, latex_name, latex_value
from .words import WORDS

_TEXT_MAP = {
    "−": "-", "·": r"$\cdot$", "×": r"$\times$", "∂": r"$\partial$", "Σ": r"$\Sigma$", "²": r"\textsuperscript{2}",
    "³": r"\textsuperscript{3}", "ᵀ": r"\textsuperscript{T}", "←": r"$\leftarrow$", "√": r"$\surd$",
}


def latex_text(s: str) -> str:
    """Plain text for LaTeX: special characters escaped, Greek letters and maths signs as commands."""
    out = []
    for c in s:
        if c in _TEXT_MAP:
            out.append(_TEXT_MAP[c])
        elif "\u0400" <= c <= "\u04ff":  # Cyrillic: typeset by T2A and babel's russian
            out.append(c)
        elif not c.isascii():
            name = latex_name(c)
            out.append(f"${name}$" if name.startswith("\\") and not name.startswith("\\mathit") else "?")
        else:
            out.append(latex_escape(c))
    return "".join(out)


def _m(s: str) -> str:
    return f"${s}$"


def _table(spec: str, headers: list[str], rows: list[list[str]]) -> list[str]:
    out = [r"\begin{tabular}{" + spec + "}", r"\toprule", " & ".join(headers) + r" \\", r"\midrule"]
    out += [" & ".join(r) + r" \\" for r in rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    return out


def _chain_equation(trace, name: str, lang: str) -> str:
    from .tables import chain_text

    o = latex_name(trace.output)
    x = latex_name(name)
    paths = chain_text(
        trace, name, d=lambda y, v: LATEX.d(latex_name(y), latex_name(v)), mul=lambda parts: " ".join(parts),
        lang=lang,
    )
    if paths in (WORDS.text("more_paths", lang), WORDS.text("no_path", lang)):
        paths = LATEX.text(paths)
    value = trace.gradients[name]
    shown = latex_value(value) if is_full(value) else LATEX.text(WORDS.text("array", lang,
                                                                            shape=fmt_shape(np.shape(value))))
    return rf"\frac{{\partial {o}}}{{\partial {x}}} &= {paths} = {shown}"


def _second_order(trace, lang: str) -> list[str]:
    """``order=2``: each first derivative as the recorded backward graph, then the second derivatives."""
    def w(key: str, **fields) -> str:
        return latex_text(WORDS.text(key, lang, **fields))

    o = latex_name(trace.output)
    body = []
    for name, d in trace.second.derivatives.items():
        x = latex_name(name)
        body.append(r"\subsection*{" + w("recorded_short") + " " + _m(rf"\partial {o}/\partial {x}") + "}")
        rows = [[str(s.step), _m(latex_name(s.name)), _m(s.formula_tex), _m(latex_value(s.value))]
                for s in d.forward_steps]
        body += _table("rlll", [w("step"), w("name"), w("operation"), w("value")], rows)
    body.append(r"\subsection*{" + w("second_short") + "}")
    rows = []
    for a, row in trace.second.hessian.items():
        for b, value in row.items():
            xa, xb = latex_name(a), latex_name(b)
            symbol = rf"\frac{{\partial^2 {o}}}{{\partial {xa}^2}}" if a == b else \
                rf"\frac{{\partial^2 {o}}}{{\partial {xa}\,\partial {xb}}}"
            num = trace.second.numeric.get(a, {}).get(b)
            rows.append([_m(symbol), _m(latex_value(value)), "" if num is None else _m(latex_value(num))])
    body.append(r"{\renewcommand{\arraystretch}{1.7}")
    body += _table("lll", ["", w("value"), w("finite_differences")], rows)
    body.append("}")
    body.append(r"\noindent " + latex_text(trace.second.check.describe(lang).replace("gradcheck", "gradgradcheck"))
                + r"\par")
    return body


def to_latex(trace, standalone: bool = True, lang: str | None = None) -> str:
    """The trace as LaTeX: a document (``standalone=True``) or a fragment to ``\\input``.

    A fragment needs ``\\usepackage{amsmath, booktabs}`` in the preamble (and, in Russian,
    ``\\usepackage[T2A]{fontenc}`` and ``\\usepackage[russian]{babel}``, which need TeX's Cyrillic
    fonts: Debian's texlive-lang-cyrillic).
    """
    from ..lang import resolve

    lang = resolve(lang)

    def w(key: str, **fields) -> str:
        return latex_text(WORDS.text(key, lang, **fields))

    g = trace.graph
    body: list[str] = []
    body.append(r"\section*{" + w("trace_of", title=trace.title) + "}")
    for note in trace.notes:
        body.append(r"\noindent\emph{" + w("note").capitalize() + ": " + latex_text(note) + r"}\par")
    body.append(r"\subsection*{" + w("inputs") + "}")
    rows = []
    for name in trace.inputs:
        v = g.var(name)
        rows.append([_m(latex_name(name)), w("scalar") if not v.shape else latex_text(fmt_shape(v.shape)),
                     _m(latex_value(v.value)), w("wanted") if name in trace.wrt else w("held_constant")])
    body += _table("llll", [w("name"), w("shape"), w("value"), w("gradient")], rows)
    body.append(r"\subsection*{" + w("forward_short") + "}")
    rows = []
    for s in trace.forward_steps:
        rows.append([str(s.step), _m(latex_name(s.name)), _m(s.formula_tex), _m(latex_value(s.value))])
    body += _table("rlll", [w("step"), w("name"), w("operation"), w("value")], rows)
    body.append(r"\subsection*{" + w("backward_short") + "}")
    body.append(r"\noindent " + w("backward_intro") + r"\par\medskip")
    rows = []
    for s in trace.backward_steps:
        if s.kind == "seed":
            rows.append([str(s.step), _m(latex_name(s.name)), _m(f"{s.symbol_tex} = {latex_value(s.upstream)}"),
                         w("start"), ""])
        elif s.kind == "sum":
            via = w("via", name="").strip()
            terms = " + ".join(f"{latex_value(t.value)}_{{\\text{{{via} }} {latex_name(t.via)}}}" for t in s.terms)
            rows.append([str(s.step), _m(latex_name(s.name)), w("sum_of_paths", n=len(s.terms)),
                         _m(f"{s.symbol_tex} = {terms}"), _m(f"{s.symbol_tex} = {latex_value(s.total)}")])
        else:
            for k, loc in enumerate(s.locals or [None]):
                first = k == 0
                if loc is None:
                    local = passed = ""
                else:
                    local = loc.symbol_tex if loc.formula_tex is None else f"{loc.symbol_tex} = {loc.formula_tex}"
                    if loc.value is not None:
                        local += f" = {latex_value(loc.value)}"
                    passed = f"{loc.chain_tex} = {latex_value(loc.contribution)}"
                rows.append([
                    str(s.step) if first else "", _m(s.formula_tex) if first else "",
                    _m(f"{s.symbol_tex} = {latex_value(s.upstream)}") if first else "",
                    _m(local) if local else "", _m(passed) if passed else "",
                ])
    body.append(r"{\renewcommand{\arraystretch}{1.7}")
    body += _table("rllll", [w("step"), w("at"), w("upstream"), w("local"), w("passed_down")], rows)
    body.append("}")
    body.append(r"\subsection*{" + w("chain_short") + "}")
    if trace.gradients:
        body.append(r"\begin{align*}")
        body.append(" \\\\\n".join(_chain_equation(trace, n, lang) for n in trace.gradients))
        body.append(r"\end{align*}")
    body.append(r"\noindent " + _m(f"{latex_name(trace.output)} = {latex_value(trace.value)}") + r".\par")
    body.append(r"\noindent " + latex_text(trace.check.describe(lang)) + r"\par")
    if trace.second is not None:
        body += _second_order(trace, lang)
    text = "\n".join(body) + "\n"
    if not standalone:
        return text
    return (
        "\\documentclass[11pt]{article}\n"
        + ("\\usepackage[T2A]{fontenc}\n" if lang == "ru" else "\\usepackage[T1]{fontenc}\n")
        + "\\usepackage[utf8]{inputenc}\n"
        + ("\\usepackage[russian]{babel}\n" if lang == "ru" else "")
        + "\\usepackage{amsmath,amssymb,booktabs}\n"
        "\\usepackage[a4paper,landscape,margin=1.5cm]{geometry}\n"
        "\\begin{document}\n" + text + "\\end{document}\n"
    )
