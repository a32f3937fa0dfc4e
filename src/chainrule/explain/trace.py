"""``explain``: run a small computation forward and backward, writing every step down.

This is the lecture's demonstration, done by the library for any small computation:
the forward pass writes down each intermediate (E, F, G, then the output H); the
backward pass walks the graph in reverse and, at each op, takes the upstream gradient,
multiplies it by the local derivative and passes the result down, summing where a
value feeds several paths. The numbers in the backward steps are the engine's own: the
trace listens to :func:`chainrule.graph.run_backward` through its step hook, so what
it shows is what ``Tensor.backward`` computes. Finally the gradients are checked
against central finite differences (:func:`chainrule.gradcheck`).
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExpressionError
from ..grad_mode import no_grad
from ..graph import run_backward
from ..tensor import Tensor, values_of
from .model import Graph, graph_from_tensor
from .notation import LATEX, UNICODE, fmt_scalar, fmt_shape
from .parse import Program, parse
from .render import SUFFIXES, write_rendering
from .tables import chain_paths  # noqa: F401 - part of this module's interface

#: Gradient checks are skipped above this many input elements (2 evaluations each).
CHECK_LIMIT = 5000


@dataclass
class ForwardStep:
    """One op of the forward pass: ``step``, the ``name`` it computes, the ``operation``
    (op name, e.g. ``mul``), the ``formula`` (``G = E · F``), ``inputs`` (names) and ``value``."""

    step: int
    name: str
    operation: str
    formula: str
    inputs: list[str]
    value: np.ndarray | None
    node: int
    formula_tex: str = field(default="", repr=False)


@dataclass
class LocalStep:
    """At one op of the backward pass, for one input: the local derivative and what is passed down.

    ``symbol`` is ``∂G/∂E``, ``formula`` its right-hand side (``F``; None where there is no
    short one), ``value`` its value, ``chain`` how the contribution is formed
    (``∂H/∂G · ∂G/∂E``) and ``contribution`` the gradient the op's backward returned for
    this input (``via`` names the op's output, the path it arrives along).
    """

    input: str
    symbol: str
    formula: str | None
    value: np.ndarray | None
    chain: str
    contribution: np.ndarray
    via: str
    symbol_tex: str = field(default="", repr=False)
    formula_tex: str | None = field(default=None, repr=False)
    chain_tex: str = field(default="", repr=False)

    @property
    def text(self) -> str:
        """``∂G/∂E = F`` (or just the symbol when there is no short formula)."""
        return self.symbol if self.formula is None else f"{self.symbol} = {self.formula}"


@dataclass
class SumTerm:
    """One path's contribution to a summed gradient: arriving ``via`` that op's output."""

    via: str
    value: np.ndarray


@dataclass
class BackwardStep:
    """One step of the backward pass.

    ``kind`` is ``seed`` (the gradient of the output with respect to itself, 1),
    ``op`` (an op receives ``upstream`` = ∂out/∂``name``, multiplies it by each local
    derivative, and passes the ``locals``' contributions down) or ``sum`` (the
    contributions that reached ``name`` along several paths, ``terms``, are added:
    ``total``). ``symbol`` is the gradient it is about, e.g. ``∂H/∂G``.
    """

    step: int
    kind: str
    name: str
    symbol: str
    upstream: np.ndarray | None = None
    formula: str | None = None
    node: int | None = None
    locals: list[LocalStep] = field(default_factory=list)
    terms: list[SumTerm] = field(default_factory=list)
    total: np.ndarray | None = None
    symbol_tex: str = field(default="", repr=False)
    formula_tex: str = field(default="", repr=False)


@dataclass
class Check:
    """The gradient check: the trace's gradients against central finite differences."""

    ran: bool
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    passed: bool = True
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    reason: str = ""

    @property
    def text(self) -> str:
        """One sentence for every rendering, in English (:meth:`describe` for another language)."""
        return self.describe("en")

    def describe(self, lang: str | None = None) -> str:
        """The sentence in ``lang`` (``en`` or ``ru``; default: the locale's)."""
        from .words import WORDS

        if not self.ran:
            return WORDS.text("check_not_run", lang, reason=self.reason)
        verdict = WORDS.text("check_passed" if self.passed else "check_failed", lang)
        return WORDS.text("check", lang, verdict=verdict, error=f"{self.max_abs_error:.2g}", eps=f"{self.eps:g}",
                          atol=f"{self.atol:g}", rtol=f"{self.rtol:g}")


@dataclass
class SecondOrder:
    """The second derivatives of a one-number output (``explain(..., order=2)``).

    ``hessian[a][b]`` is ∂²out/∂a∂b (shape ``a.shape + b.shape``), from the backward pass
    recorded with ``create_graph=True`` and differentiated again (:func:`chainrule.func.hessian`);
    ``numeric[a][b]`` the same by central differences of the first derivatives, and ``check``
    the comparison. ``derivatives[a]`` is the trace of ∂out/∂a as a computation: its forward
    pass is the recorded backward graph (the original forward, then the ops the backward pass
    recorded), and its backward pass gives the row ∂²out/∂a∂· of the Hessian.
    """

    hessian: dict[str, dict[str, np.ndarray]]
    numeric: dict[str, dict[str, np.ndarray]]
    check: Check
    derivatives: dict[str, Trace]


@dataclass
class Trace:
    """A computation written down step by step, forward and backward.

    Attributes
    ----------
    source : the expression, or the function's name.
    kind : ``expression`` or ``function``.
    graph : variables and op nodes (see :mod:`chainrule.explain.model`).
    inputs : input names, in the order the computation reads them.
    wrt : inputs whose gradients were asked for.
    output : the output's name.
    forward_steps, backward_steps : the steps (see :class:`ForwardStep`, :class:`BackwardStep`).
    value : the output value (float64 ndarray, 0-d for a scalar).
    gradients : ``{input name: gradient of the output}`` (of its sum, for a non-scalar output).
    check : the gradient check (:class:`Check`).
    notes : remarks every rendering shows (a non-scalar output, a freed graph, …).
    lang : the language of its renderings when ``render`` is not told (``None``: the locale's); set
        ``trace.lang = "ru"`` for the lecture's Russian terms in a notebook.
    """

    source: str
    kind: str
    graph: Graph
    inputs: list[str]
    wrt: list[str]
    output: str
    forward_steps: list[ForwardStep]
    backward_steps: list[BackwardStep]
    value: np.ndarray
    gradients: dict[str, np.ndarray]
    check: Check
    notes: list[str] = field(default_factory=list)
    second: SecondOrder | None = None
    lang: str | None = None

    @property
    def title(self) -> str:
        if self.kind == "expression" and self.forward_steps and " = " not in self.source:
            return f"{self.output} = {self.source}"
        return self.source

    def render(self, fmt: str = "text", **options: Any) -> str | bytes:
        """This trace as ``text``, ``md``, ``latex``, ``json``, ``dot``, ``svg``, ``png`` (bytes) or ``html``.

        Options: ``lang="en"`` or ``"ru"`` (default: the locale's; the lecture's Russian terms),
        ``color=True`` for ``text`` (rich tables in colour; needs ``rich``),
        ``standalone=False`` for a LaTeX fragment instead of a whole document.
        """
        from . import render

        options.setdefault("lang", self.lang)
        return render.render(self, fmt, **options)

    def save(self, path: str | Path, fmt: str | None = None, lang: str | None = None) -> Path:
        """Write a rendering to ``path`` (atomically); the format is guessed from the suffix unless given."""
        if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
            raise ExpressionError(f"Trace.save: path must be a file name (str or os.PathLike), got {path!r}")
        path = Path(path)
        fmt = fmt or SUFFIXES.get(path.suffix.lower(), "text")
        return write_rendering(self.render(fmt, lang=lang), path)

    def __str__(self) -> str:
        return self.render("text")  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"<Trace {self.title}: {len(self.forward_steps)} forward, {len(self.backward_steps)} backward steps; "
            f"value {fmt_scalar(self.value) if self.value.size == 1 else fmt_shape(self.value.shape)}>"
        )

    # -- Jupyter ---------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        from .render import notebook_html

        return notebook_html(self)

    def _repr_svg_(self) -> str:
        from .render import static_svg

        return static_svg(self.graph)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self.render("text"), "text/html": self._repr_html_(), "image/svg+xml": self._repr_svg_()}


# -- inputs ---------------------------------------------------------------------------------------


def _as_array(name: str, value: Any) -> np.ndarray:
    value = values_of(value)
    if value is None or isinstance(value, (bytes, dict, set)) or callable(value):
        raise ExpressionError(f"value for {name} must be a number, a (nested) list of numbers, an array or a "
                              f"Tensor, got {type(value).__name__}")
    if isinstance(value, str):
        from .parse import parse_value

        return parse_value(value, name)
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ExpressionError(f"value for {name} is not a number or an array of numbers: {str(value)[:60]!r}") from None
    if arr.size > 1_000_000:
        raise ExpressionError(f"value for {name} has {arr.size} elements; explain is for small computations")
    return arr


def _wrt_names(wrt, names: list[str]) -> list[str]:
    if wrt is None:
        return list(names)
    if isinstance(wrt, str):
        wrt = [w.strip() for w in wrt.split(",") if w.strip()]
    if not isinstance(wrt, (list, tuple, set, frozenset)) or not all(isinstance(w, str) for w in wrt):
        raise ExpressionError(f"wrt must name inputs: a string such as 'a,b' or a list of names, got "
                              f"{str(wrt)[:60]!r} ({type(wrt).__name__})")
    wrt = list(wrt)
    unknown = [w for w in wrt if w not in names]
    if unknown:
        have = ", ".join(names) if names else "none"
        raise ExpressionError(f"--wrt names {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} "
                              f"not an input (inputs: {have})")
    return [n for n in names if n in wrt]


# -- recording a function -----------------------------------------------------------------------

_active = threading.local()


def name(tensor: Tensor, label: str) -> Tensor:
    """Give an intermediate a name in the trace of the function being explained.

    Inside a function passed to :func:`explain`, ``mu = name(X @ theta, "μ")`` makes the
    trace call that value ``μ`` instead of the next free capital letter. Outside an
    explain call it does nothing. Returns ``tensor`` itself.
    """
    rec = getattr(_active, "recorder", None)
    if rec is not None and isinstance(tensor, Tensor):
        key = id(tensor.op) if tensor.op is not None else id(tensor)
        rec.names[key] = str(label)
        rec.keep.append(tensor)
    return tensor


class _Recorder:
    """Sees every Tensor returned while a function runs (``sys.setprofile``, this thread
    only), to know the value of each intermediate and the order it was computed in."""

    def __init__(self):
        self.outputs: dict[int, tuple[int, Tensor]] = {}
        self.names: dict[int, str] = {}
        self.keep: list = []

    def _profile(self, frame, event, arg):
        if event == "return" and isinstance(arg, Tensor):
            op = arg.op
            if op is not None and id(op) not in self.outputs:
                self.outputs[id(op)] = (len(self.outputs), arg)

    def __enter__(self):
        self._previous = sys.getprofile()
        self._outer = getattr(_active, "recorder", None)
        _active.recorder = self
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)
        _active.recorder = self._outer
        return False


# -- explain -----------------------------------------------------------------------------------------


def explain(source: str | Callable, /, *, wrt=None, check: bool = True, order: int = 1, **values: Any) -> Trace:
    """Trace a small computation forward and backward, step by step, as in the lecture.

    Parameters
    ----------
    source : an expression such as ``"(a + b) * (c - d)"`` (parsed against a whitelist,
        never evaluated by Python; see :mod:`chainrule.explain.parse`), possibly with named
        intermediates (``"mu = X @ theta; delta = mu - Y; sum(delta ** 2)"``), or a Python
        function of Tensors whose parameters are the inputs.
    wrt : input names (a list, or ``"a,b"``) whose gradients to show; default: all.
    check : compare the gradients with central finite differences (:func:`chainrule.gradcheck`).
    order : 2 also traces the second derivatives of a one-number output (``Trace.second``): the
        backward pass is recorded (``create_graph=True``) and differentiated again; the trace
        shows the table of second derivatives and the recorded backward graph.
    **values : a value for every input: numbers, nested lists, arrays or Tensors (float64 is used).

    Returns
    -------
    Trace, with ``forward_steps``, ``backward_steps``, ``value``, ``gradients`` and ``check``.

    Raises
    ------
    ExpressionError : a refused or malformed expression, a missing or extra value.
    ShapeError : operands whose shapes do not fit.

    Examples
    --------
    >>> t = explain("(A + B) * (C - D) * 2", A=2, B=1, C=5, D=3)
    >>> [s.formula for s in t.forward_steps]
    ['E = A + B', 'F = C − D', 'G = E · F', 'H = G · 2']
    >>> float(t.value), float(t.gradients["A"])
    (12.0, 4.0)
    """
    if not isinstance(check, (bool, np.bool_)):
        raise ExpressionError(f"check must be True or False, got {check!r}")
    if isinstance(order, bool) or order not in (1, 2):
        raise ExpressionError(f"order must be 1 (gradients) or 2 (and second derivatives), got {order!r}")
    check = bool(check)
    if isinstance(source, str):
        source = parse(source)
    if isinstance(source, Program):
        trace = _explain_program(source, wrt, check, values)
    elif callable(source):
        trace = _explain_function(source, wrt, check, values)
    else:
        raise ExpressionError(f"explain needs an expression string or a function, got {type(source).__name__}")
    if order == 2:
        trace.second = _second_order(trace, source, check, values)
    return trace


def _second_order(trace: Trace, source, check: bool, values: dict) -> SecondOrder:
    """The second derivatives of the trace's output (one number) with respect to its wanted inputs."""
    from ..autograd import grad
    from ..func import hessian
    from ..grad_mode import enable_grad

    if trace.value.size != 1:
        raise ExpressionError(f"order 2 needs an output of one number; {trace.output} has shape "
                              f"{fmt_shape(trace.value.shape)}")
    if not trace.wrt:
        raise ExpressionError("order 2 needs at least one input to differentiate with respect to")
    names = list(trace.inputs)
    arrays = {n: _as_array(n, values[n]) for n in names}

    def output(env: dict[str, Tensor]) -> Tensor:
        out = source.evaluate(env).data if isinstance(source, Program) else source(**env)
        return out if isinstance(out, Tensor) else Tensor(np.asarray(out))

    def derivative_of(wanted: str) -> Callable:
        def derivative(**env):
            with enable_grad():  # the finite-difference check calls it under no_grad
                env = {n: t if t.requires_grad else Tensor(values_of(t), requires_grad=True) for n, t in env.items()}
                out = output(env)
                if not out.requires_grad:
                    return Tensor(np.zeros(arrays[wanted].shape))
                (g,) = grad(out, env[wanted], create_graph=True, allow_unused=True, materialize_grads=True)
                return g

        derivative.__name__ = f"∂{trace.output}/∂{wanted}"
        return derivative

    derivatives = {a: _explain_function(derivative_of(a), trace.wrt, check, dict(arrays)) for a in trace.wrt}
    point = {n: arrays[n] for n in trace.wrt}
    fixed = {n: Tensor(arrays[n]) for n in names if n not in point}
    with np.errstate(all="ignore"):
        H = hessian(lambda p: output({**fixed, **p}), point)
    table = {a: {b: np.array(H[a][b].numpy(), dtype=np.float64) for b in trace.wrt} for a in trace.wrt}
    if not check:
        return SecondOrder(table, {}, Check(False, reason="check=False"), derivatives)
    numeric = {a: {b: _hessian_block_numeric(derivative_of(a), arrays, b) for b in trace.wrt} for a in trace.wrt}
    analytic = {f"{a},{b}": table[a][b] for a in trace.wrt for b in trace.wrt}
    flat_numeric = {f"{a},{b}": numeric[a][b] for a in trace.wrt for b in trace.wrt}
    return SecondOrder(table, numeric, _compare(analytic, flat_numeric), derivatives)


def _hessian_block_numeric(derivative: Callable, arrays: dict[str, np.ndarray], b: str,
                           eps: float = 1e-6) -> np.ndarray:
    """∂(∂out/∂a)/∂b by central differences of the first derivative ``derivative`` (∂out/∂a)."""
    env = {n: np.array(a, dtype=np.float64) for n, a in arrays.items()}
    flat = env[b].reshape(-1)
    first_shape = np.shape(values_of(derivative(**{n: Tensor(a) for n, a in env.items()})))
    out = np.zeros(first_shape + (flat.size,))
    with np.errstate(all="ignore"):
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            plus = np.array(values_of(derivative(**{n: Tensor(a.copy()) for n, a in env.items()})))
            flat[j] = old - eps
            minus = np.array(values_of(derivative(**{n: Tensor(a.copy()) for n, a in env.items()})))
            flat[j] = old
            out[..., j] = (plus - minus) / (2 * eps)
    return out.reshape(first_shape + arrays[b].shape)


def _compare(analytic: dict[str, np.ndarray], numeric: dict[str, np.ndarray], eps: float = 1e-6,
             atol: float = 1e-5, rtol: float = 1e-3) -> Check:
    """Analytic against numeric derivatives, with gradcheck's rule ``|a − n| <= atol + rtol·|n|``."""
    abs_err = rel_err = 0.0
    passed = True
    for key, g in analytic.items():
        num = numeric[key]
        with np.errstate(all="ignore"):
            err = np.abs(g - num)
            if not err.size:
                continue
            if np.isnan(err).any():
                return Check(True, eps, atol, rtol, float("nan"), float("nan"), False, numeric)
            rel = err / np.maximum(np.abs(num), np.finfo(np.float64).tiny)
            abs_err = max(abs_err, float(np.max(err)))
            rel_err = max(rel_err, float(np.max(np.where(err > 0, rel, 0))))
            passed = passed and bool(np.all(err <= atol + rtol * np.abs(num)))
    return Check(True, eps, atol, rtol, abs_err, rel_err, passed, numeric)


def _explain_program(program: Program, wrt, check: bool, values: dict) -> Trace:
    from .model import GraphBuilder

    program.check_values(values)
    arrays = {n: _as_array(n, values[n]) for n in program.free_names}
    wrt_names = _wrt_names(wrt, program.free_names)
    tensors = {n: Tensor(a, requires_grad=True) for n, a in arrays.items()}
    builder = GraphBuilder(set(program.free_names) | set(program.assigned))
    result = program.evaluate(tensors, builder)
    graph = builder.finish(result.var)
    root = result.data if isinstance(result.data, Tensor) else Tensor(result.array)

    def evaluate(env: dict[str, Tensor]) -> Tensor:
        out = program.evaluate(env).data
        return out if isinstance(out, Tensor) else Tensor(np.asarray(out))

    return _finish(program.display, "expression", graph, root, tensors, arrays, wrt_names, check, evaluate)


def _explain_function(fn: Callable, wrt, check: bool, values: dict) -> Trace:
    fname = getattr(fn, "__name__", type(fn).__name__)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise ExpressionError(f"cannot read the parameters of {fname}; pass a def or lambda") from None
    params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind is p.POSITIONAL_ONLY for p in sig.parameters.values()):
        raise ExpressionError(f"{fname} has positional-only parameters; explain passes inputs by name")
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    names = [p.name for p in params if p.name in values]
    missing = [p.name for p in params if p.name not in values and p.default is p.empty]
    if missing:
        raise ExpressionError(f"no value given for {', '.join(missing)} (parameters of {fname})")
    extra = [k for k in values if k not in {p.name for p in params}]
    if extra and not takes_any:
        raise ExpressionError(f"{fname} has no parameter {', '.join(extra)}")
    names += extra
    arrays = {n: _as_array(n, values[n]) for n in names}
    wrt_names = _wrt_names(wrt, names)
    tensors = {n: Tensor(a, requires_grad=True) for n, a in arrays.items()}
    with _Recorder() as rec, np.errstate(all="ignore"):
        out = fn(**tensors)
    if not isinstance(out, Tensor):
        raise ExpressionError(f"{fname} must return a Tensor, got {type(out).__name__}")
    graph, _ = graph_from_tensor(
        out, {id(t): n for n, t in tensors.items()}, rec.outputs, rec.names, set(names)
    )

    def evaluate(env: dict[str, Tensor]) -> Tensor:
        return fn(**env)

    return _finish(f"{fname}({', '.join(names)})", "function", graph, out, tensors, arrays, wrt_names, check,
                   evaluate)


def _relevant(graph: Graph, wrt_vars: set[int]) -> set[int]:
    """Variables on a path down to an input whose gradient was asked for."""
    relevant = set(wrt_vars)
    for n in graph.nodes:  # forward order: inputs before outputs
        if any(i in relevant for i in n.inputs):
            relevant.add(n.output)
    return relevant


def _finish(source, kind, graph: Graph, root: Tensor, tensors: dict[str, Tensor], arrays, wrt, check, evaluate):
    out = graph.vars[graph.output]
    input_index = {v.name: v.index for v in graph.vars if v.kind == "input"}
    wrt_vars = {input_index[n] for n in wrt if n in input_index}
    relevant = _relevant(graph, wrt_vars)
    for v in graph.vars:
        v.wants_grad = v.index in relevant
    notes = list(graph.notes)

    forward = []
    for n in graph.nodes:
        y = graph.vars[n.output]
        forward.append(ForwardStep(
            len(forward) + 1, y.name, n.name, n.formula, [graph.vars[i].name for i in n.inputs], y.value, n.index,
            n.formula_tex,
        ))

    value = np.array(values_of(root), dtype=np.float64)
    seed = np.ones_like(value)
    if value.size != 1:
        notes.append(
            f"{out.name} has shape {fmt_shape(value.shape)}, not one number: backward starts from "
            f"∂(Σ{out.name})/∂{out.name} = 1 for every element, so the gradients are those of the sum of {out.name}"
        )
    oname, oname_tex = out.name, LATEX.name(out.name)
    steps: list[BackwardStep] = [BackwardStep(
        0, "seed", out.name, UNICODE.d(oname, oname), upstream=seed, symbol_tex=LATEX.d(oname_tex, oname_tex)
    )]
    out.grad = seed if out.index in relevant else None
    contribs: dict[int, list[tuple[str, np.ndarray, int]]] = defaultdict(list)
    node_of = {id(n.op): n for n in graph.nodes}
    names = list(tensors)

    def hook(op, upstream, in_grads):
        n = node_of.get(id(op))
        if n is None or n.output not in relevant:
            return
        y = graph.vars[n.output]
        upstream = np.array(upstream, dtype=np.float64)
        arrived = contribs.get(n.output, [])
        if len(arrived) > 1:
            steps.append(_sum_step(oname, oname_tex, y.name, arrived, upstream))
        y.grad = upstream
        U, U_tex = UNICODE.d(oname, y.name), LATEX.d(oname_tex, LATEX.name(y.name))
        step = BackwardStep(0, "op", y.name, U, upstream=upstream, formula=n.formula, node=n.index, symbol_tex=U_tex,
                            formula_tex=n.formula_tex)
        for pos, (i, g) in enumerate(zip(n.inputs, in_grads)):
            if g is None or i not in relevant:
                continue
            x = graph.vars[i]
            loc, loc_tex = n.text.locals[pos], n.text_tex.locals[pos]
            D, D_tex = UNICODE.d(y.name, x.name), LATEX.d(LATEX.name(y.name), LATEX.name(x.name))
            g = np.array(g, dtype=np.float64)
            chain, chain_tex = loc.chain(U, D), loc_tex.chain(U_tex, D_tex)
            if g.size < upstream.size and loc.elementwise:  # broadcast forward, so summed backward
                chain += " summed over the broadcast copies"
                chain_tex += r" \text{ summed over the broadcast copies}"
            step.locals.append(LocalStep(
                x.name, D, loc.rhs, loc.value, chain, g, y.name, D_tex, loc_tex.rhs, chain_tex,
            ))
            contribs[i].append((y.name, g, len(steps)))
        steps.append(step)

    gradients: dict[str, np.ndarray] = {}
    if root.op is not None and root.requires_grad:
        capture = {id(tensors[n]): k for k, n in enumerate(names)}
        with np.errstate(all="ignore"):  # log(0) and the like: the trace shows inf and nan as they are
            captured = run_backward(root, seed.astype(root.data.dtype), retain_graph=False, capture=capture,
                                    hook=hook)
        for k, n in enumerate(names):
            if n in wrt:
                g = captured[k]
                gradients[n] = np.zeros_like(arrays[n]) if g is None else np.array(g, dtype=np.float64)
    else:
        for n in wrt:
            same = root is tensors[n]
            gradients[n] = seed.copy() if same else np.zeros_like(arrays[n])
    # inputs reached along several paths: the sum, right after its last contribution arrived
    inserts = []
    for i in sorted(wrt_vars):
        arrived = contribs.get(i, [])
        if len(arrived) > 1:
            v = graph.vars[i]
            inserts.append((arrived[-1][2] + 1, _sum_step(oname, oname_tex, v.name, arrived, gradients[v.name])))
    for pos, step in sorted(inserts, key=lambda t: t[0], reverse=True):
        steps.insert(pos, step)
    for k, step in enumerate(steps):
        step.step = k + 1
    for n in wrt:
        if n in input_index:  # an input the output does not use is not in its graph
            graph.vars[input_index[n]].grad = gradients[n]

    result = _check(evaluate, arrays, wrt, gradients, value.size) if check else Check(False, reason="check=False")
    return Trace(source, kind, graph, list(tensors), list(wrt), out.name, forward, steps, value, gradients, result,
                 notes)


def _sum_step(oname, oname_tex, name, arrived, total) -> BackwardStep:
    return BackwardStep(
        0, "sum", name, UNICODE.d(oname, name),
        terms=[SumTerm(via, g) for via, g, _ in arrived], total=np.array(total, dtype=np.float64),
        symbol_tex=LATEX.d(oname_tex, LATEX.name(name)),
    )


def _check(evaluate, arrays: dict[str, np.ndarray], wrt: list[str], gradients, out_size: int,
           eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3) -> Check:
    """Central finite differences of the (summed) output for every element of every input
    in ``wrt``, compared with the trace's gradients with :func:`chainrule.gradcheck`'s rule
    ``|analytic − numeric| <= atol + rtol·|numeric|``. Runs under ``no_grad``, so nothing
    outside the trace is touched."""
    if not wrt:
        return Check(False, reason="no gradients were asked for")
    count = sum(arrays[n].size for n in wrt)
    if count > CHECK_LIMIT:
        return Check(False, reason=f"{count} input elements, more than the {CHECK_LIMIT} it checks")
    env = {n: Tensor(np.array(a, dtype=np.float64)) for n, a in arrays.items()}

    def value() -> float:
        with no_grad():
            out = evaluate(env)
        return float(np.sum(out.data))

    numeric: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for n in wrt:
            flat = env[n].data.reshape(-1)
            num = np.zeros(flat.size)
            for j in range(flat.size):
                old = flat[j]
                flat[j] = old + eps
                plus = value()
                flat[j] = old - eps
                minus = value()
                flat[j] = old
                num[j] = (plus - minus) / (2 * eps)
            numeric[n] = num.reshape(arrays[n].shape)
    return _compare({n: gradients[n] for n in wrt}, numeric, eps, atol, rtol)
