"""Numerical gradient checking: central finite differences against backward.

Usable on an op (class or configured instance, checked by hand with
``forward``/``backward``, no graph involved), on any function of Tensors, and
on a model (pass its parameters as the inputs and close over the data).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DTypeError, GradcheckError, ShapeError
from .grad_mode import enable_grad, no_grad
from .ops.base import Op
from .tensor import Tensor, values_of


@dataclass
class InputCheck:
    """Comparison of the analytic and numerical gradient of one input."""

    position: int
    analytic: np.ndarray
    numeric: np.ndarray
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    passed: bool


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`; truthy exactly when every input passed."""

    name: str
    checks: list[InputCheck] = field(default_factory=list)
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_abs_error(self) -> float:
        return max((c.max_abs_error for c in self.checks), default=0.0)

    @property
    def max_rel_error(self) -> float:
        return max((c.max_rel_error for c in self.checks), default=0.0)

    def report(self) -> str:
        """Plain text a learner can read: one line per input, the worst element named."""
        verdict = "passed" if self.passed else "FAILED"
        lines = [
            f"gradcheck of {self.name}: {verdict} "
            f"(central differences, eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g})"
        ]
        for c in self.checks:
            where = f"element {c.worst_index}" if c.analytic.ndim else "the value"
            mark = "ok" if c.passed else "MISMATCH"
            line = (
                f"  input {c.position}, shape {c.analytic.shape}: {mark}; "
                f"max abs error {c.max_abs_error:.3g}, max rel error {c.max_rel_error:.3g}"
            )
            if c.analytic.size:
                a, n = c.analytic[c.worst_index], c.numeric[c.worst_index]
                line += f"; worst at {where}: backward {a:.8g} vs numerical {n:.8g}"
            lines.append(line)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _evaluator(f) -> tuple[str, Callable, Callable]:
    """(name, value(xs) -> ndarray, analytic(xs, R, float_positions) -> grads) for ``f``."""
    if isinstance(f, type) and issubclass(f, Op):
        make = f
    elif isinstance(f, Op):
        template = copy.deepcopy(f)

        def make():
            return copy.deepcopy(template)
    else:
        make = None

    if make is not None:
        name = make().describe()

        def value(xs):
            return np.asarray(make().forward(*xs), dtype=np.float64)

        def analytic(xs, upstream, positions):
            op = make()
            op.forward(*xs)
            grads = op.backward(upstream)
            if not isinstance(grads, (tuple, list)):
                grads = (grads,)
            if len(grads) != len(xs):
                raise ShapeError(f"{name}.backward returned {len(grads)} gradients for {len(xs)} inputs")
            return [grads[i] for i in positions]

        return name, value, analytic

    if not callable(f):
        raise TypeError(f"gradcheck: expected an Op subclass, an Op or a function, got {f!r}")
    name = getattr(f, "__name__", repr(f))

    def value(xs):
        with no_grad():
            out = f(*xs)
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: {name} must return a Tensor, got {type(out).__name__}")
        return values_of(out)

    def analytic(xs, upstream, positions):
        for i in positions:
            xs[i].grad = None
        out = f(*xs)
        if out.requires_grad:
            out.backward(upstream)
        return [xs[i].grad for i in positions]

    return name, value, analytic


def gradcheck(
    f: Any,
    inputs: Sequence,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_on_failure: bool = False,
    seed: int = 0,
) -> GradcheckResult:
    """Compare backward's gradients with central finite differences, element by element.

    Parameters
    ----------
    f : an ``Op`` subclass (built with no arguments), a configured ``Op`` instance
        (e.g. ``Sum(axis=0)``), or a function of Tensors returning a Tensor.
    inputs : arrays (or Tensors, perturbed in place: a model's parameters). Floating
        inputs are checked in float64; integer and boolean inputs are held constant.
    eps : finite-difference step.
    atol, rtol : an element passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
    raise_on_failure : raise :class:`GradcheckError` instead of returning a failed result.
    seed : seeds the random projection of a non-scalar output (checks ``Jᵀ r``).

    Returns
    -------
    GradcheckResult, truthy exactly when every element of every input passed.
    """
    name, value, analytic = _evaluator(f)
    is_op = isinstance(f, Op) or isinstance(f, type)
    xs: list[Any] = []
    positions: list[int] = []
    saved_grads: dict[int, Any] = {}
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x.dtype.kind == "f" and x.dtype != np.float64:
                raise DTypeError(f"gradcheck: input {i} is {x.dtype}; gradient checks run in float64")
            xs.append(values_of(x) if is_op else x)
            if x.dtype.kind == "f":
                positions.append(i)
                saved_grads[i] = x.grad
            continue
        arr = np.asarray(x)
        # Float arrays, and numbers or lists written by hand, are checked; integer
        # arrays (indices) and booleans (masks) are held constant.
        by_hand = isinstance(x, (int, float, list, tuple)) and not isinstance(x, bool)
        if arr.dtype.kind == "f" or (by_hand and arr.dtype.kind in "iu"):
            arr = np.array(arr, dtype=np.float64)
            positions.append(i)
            xs.append(arr if is_op else Tensor(arr, requires_grad=True))
        else:
            xs.append(arr if is_op else x)

    def array_of(i):
        return values_of(xs[i])

    out = value(xs)
    upstream = np.random.default_rng(seed).standard_normal(np.shape(out))
    if np.ndim(out) == 0:
        upstream = np.ones(())

    grads = analytic(xs, upstream, positions)
    result = GradcheckResult(name=name, eps=eps, atol=atol, rtol=rtol)
    try:
        for i, g in zip(positions, grads):
            x = array_of(i)
            g = np.zeros_like(x) if g is None else np.asarray(g, dtype=np.float64)
            if g.shape != x.shape:
                raise ShapeError(
                    f"gradcheck: {name} gave a gradient of shape {g.shape} for input {i} of shape {x.shape}"
                )
            numeric = np.zeros(x.shape)
            for idx in np.ndindex(x.shape):  # in place on x itself, whatever its strides
                old = x[idx]
                x[idx] = old + eps
                plus = np.sum(value(xs) * upstream)
                x[idx] = old - eps
                minus = np.sum(value(xs) * upstream)
                x[idx] = old
                numeric[idx] = (plus - minus) / (2 * eps)
            err = np.abs(g - numeric)
            excess = err - (atol + rtol * np.abs(numeric))
            worst = np.unravel_index(int(np.argmax(excess)), x.shape) if x.size else ()
            # Symmetric relative error |a - n| / max(|a|, |n|): 0 where both are 0, at most 2.
            scale = np.maximum(np.abs(g), np.abs(numeric))
            rel = np.divide(err, scale, out=np.zeros_like(err), where=scale > 0)
            result.checks.append(
                InputCheck(
                    position=i,
                    analytic=g,
                    numeric=numeric,
                    max_abs_error=float(err.max(initial=0.0)),
                    max_rel_error=float(rel.max(initial=0.0)),
                    worst_index=tuple(int(k) for k in worst),
                    passed=bool(np.all(excess <= 0)),
                )
            )
    finally:
        for i, old_grad in saved_grads.items():
            inputs[i].grad = old_grad
    if raise_on_failure and not result.passed:
        raise GradcheckError(result)
    return result


def gradgradcheck(
    f: Any,
    inputs: Sequence,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_on_failure: bool = False,
    seed: int = 0,
) -> GradcheckResult:
    """Check second derivatives: the recorded backward pass against finite differences of it.

    As ``torch.autograd.gradgradcheck``. The first derivatives of ``f`` (with ``grad_outputs``
    as the upstream, random when not given) are computed with ``create_graph=True``, which
    makes them a function of the inputs and of ``grad_outputs``; :func:`gradcheck` then checks
    that function's own backward (the derivatives of the derivatives) element by element.
    The report numbers ``f``'s inputs first, then the upstream gradient (input ``len(inputs)``).

    Parameters
    ----------
    f : an ``Op`` subclass, a configured ``Op`` instance, or a function of Tensors returning a Tensor.
    inputs : as for :func:`gradcheck` (float inputs are checked, in float64).
    grad_outputs : the upstream gradient of ``f``'s output (drawn from ``seed`` when None).
    """
    apply = _as_function(f)
    name = getattr(f, "__name__", None) or (f.describe() if isinstance(f, Op) else f.__name__)
    values = [values_of(x) for x in inputs]
    floats = [i for i, x in enumerate(values) if np.asarray(x).dtype.kind == "f"
              or (isinstance(x, (int, float, list, tuple)) and not isinstance(x, bool))]
    if not floats:
        raise DTypeError(f"gradgradcheck: {name} has no floating-point input to differentiate "
                         f"(integer and boolean inputs are held constant)")
    with no_grad():
        probe = [Tensor(np.asarray(x, dtype=np.float64)) if i in floats else x for i, x in enumerate(values)]
        out_shape = np.shape(values_of(apply(*probe)))
    if grad_outputs is None:
        grad_outputs = np.random.default_rng(seed + 1).standard_normal(out_shape)
    grad_outputs = np.asarray(values_of(grad_outputs), dtype=np.float64)
    if grad_outputs.shape != out_shape:
        raise ShapeError(f"gradgradcheck: grad_outputs of shape {grad_outputs.shape} "
                         f"for an output of shape {out_shape}")

    def first_derivatives(*args):
        from .autograd import grad
        from .functional import concatenate

        xs, upstream = args[:-1], args[-1]
        with enable_grad():
            out = apply(*xs)
            wrt = [xs[i] for i in floats]
            grads = (None,) * len(wrt)
            if out.requires_grad:
                grads = grad(out, wrt, grad_outputs=upstream, create_graph=True, allow_unused=True)
            flat = [(g if g is not None else Tensor(np.zeros(np.shape(values_of(x))))).reshape(-1)
                    for g, x in zip(grads, wrt)]
            return concatenate(flat) if flat else Tensor(np.zeros(0))

    first_derivatives.__name__ = f"second derivatives of {name}"
    return gradcheck(first_derivatives, [*inputs, grad_outputs], eps=eps, atol=atol, rtol=rtol,
                     raise_on_failure=raise_on_failure, seed=seed)


def _as_function(f: Any) -> Callable:
    """``f`` as a function of Tensors: an op class or instance is applied, a fresh copy each time."""
    if isinstance(f, type) and issubclass(f, Op):
        return lambda *xs: f.apply(*xs)
    if isinstance(f, Op):
        template = copy.deepcopy(f)

        def apply(*xs):
            from .tensor import record

            return record(copy.deepcopy(template), xs)

        return apply
    if not callable(f):
        raise TypeError(f"gradgradcheck: expected an Op subclass, an Op or a function, got {f!r}")
    return f
