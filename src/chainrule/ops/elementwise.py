"""Elementwise blocks: exp, log, sqrt, abs, and the two-way choices maximum, minimum, where."""

from __future__ import annotations

from operator import gt, lt

import numpy as np

from ..backend import cast, constant, elementwise, is_foreign, masked, namespace_of, values_of, xp_of
from ..errors import ShapeError
from .arithmetic import _KeepsOperands, summed_to
from .base import Op, Written, shape_of, unbroadcast


class _Unary(Op):
    """An elementwise function of one input, offered as a function, a Tensor method and in expressions."""

    arity = 1
    fresh_grads = True
    in_expressions = True
    backward_records = True  # the upstream times a function of the saved input or output


class Exp(_Unary):
    """y = exp(x);  dy/dx = exp(x) = y.  Shapes: x (...) -> y (...)."""

    array_api = True
    functions = methods = ("exp",)
    saves = ("out",)

    def forward(self, x):
        out = _exp(x)
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        return (upstream * out,)

    def written(self, n, y, x):
        return Written(n.call("exp", x), (y,))


class Log(_Unary):
    """y = log(x);  dy/dx = 1/x.  Shapes: x (...) -> y (...)."""

    array_api = True
    functions = methods = ("log",)
    saves = ("x",)

    def forward(self, x):
        self.saved = (x,)
        return _log(x)

    def backward(self, upstream):
        (x,) = self.saved
        return (upstream / x,)

    def written(self, n, y, x):
        return Written(n.call("log", x), (n.div(n.one, x),))


class Sqrt(_Unary):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y).  Shapes: x (...) -> y (...)."""

    array_api = True
    functions = methods = ("sqrt",)
    symbol = "√"
    saves = ("out",)

    def forward(self, x):
        out = _sqrt(x)
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        return (upstream / (2 * out),)

    def written(self, n, y, x):
        return Written(n.sqrt(x), (n.div(n.one, n.mul(n.num(2), y)),))


class Abs(_Unary):
    """y = |x|;  dy/dx = sign(x) (0 at x = 0, as in PyTorch).  Shapes: x (...) -> y (...)."""

    array_api = True
    functions = methods = ("abs",)
    operator = "abs"
    saves = ("x",)

    def forward(self, x):
        self.saved = (x,)
        return _abs(x)

    def backward(self, upstream):
        (x,) = self.saved
        # sign(x) from comparisons, which are constants also for a Tensor x; 0 at NaN, as PyTorch's sgn
        sign = cast(x > 0, upstream.dtype) - cast(x < 0, upstream.dtype)
        return (upstream * sign,)

    def written(self, n, y, x):
        return Written(n.call("abs", x), (n.call("sign", x),))


# -- the elementwise functions of NumPy, each with its derivative written once --------------------


_either = elementwise  # NumPy's function on arrays and numbers, the standard's on other arrays, a Tensor's method


_sin, _cos, _sinh, _cosh, _sqrt = (_either(n) for n in ("sin", "cos", "sinh", "cosh", "sqrt"))
_exp, _log, _abs = (_either(n) for n in ("exp", "log", "abs"))
_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))


class _Smooth(_Unary):
    """An elementwise function ``_f`` whose derivative ``local(x, out)`` is written with operators and
    :func:`_either` functions, so that the same formula serves backward and its recorded form."""

    array_api = True  # the function and its derivative through elementwise(): any array library
    saves = ("x", "out")

    def forward(self, x):
        out = self._f(x)
        self.saved = (x, out)
        return out

    def backward(self, upstream):
        x, out = self.saved
        return (upstream * self.local(x, out),)

    def written(self, n, y, x):
        name = self.functions[0]
        return Written(n.call(name, x), (self.local_text(n, x, y),))


class Sin(_Smooth):
    """y = sin(x);  dy/dx = cos(x).  Shapes: x (...) -> y (...)."""

    functions = methods = ("sin",)
    _f = staticmethod(_either("sin"))

    def local(self, x, out):
        return _cos(x)

    def local_text(self, n, x, y):
        return n.call("cos", x)


class Cos(_Smooth):
    """y = cos(x);  dy/dx = −sin(x).  Shapes: x (...) -> y (...)."""

    functions = methods = ("cos",)
    _f = staticmethod(_either("cos"))

    def local(self, x, out):
        return -_sin(x)

    def local_text(self, n, x, y):
        return n.neg(n.call("sin", x))


class Tan(_Smooth):
    """y = tan(x);  dy/dx = 1 + tan²(x) = 1 + y².  Shapes: x (...) -> y (...)."""

    functions = methods = ("tan",)
    _f = staticmethod(_either("tan"))

    def local(self, x, out):
        return out * out + 1

    def local_text(self, n, x, y):
        return n.add(n.one, n.pow(y, 2))


class Arcsin(_Smooth):
    """y = arcsin(x);  dy/dx = 1 / √(1 − x²).  Shapes: x (...) -> y (...); NaN outside [−1, 1]."""

    functions = methods = ("arcsin", "asin")
    _f = staticmethod(_either("arcsin"))

    def local(self, x, out):
        return 1 / _sqrt(1 - x * x)

    def local_text(self, n, x, y):
        return n.div(n.one, n.sqrt(n.sub(n.one, n.pow(x, 2))))


class Arccos(_Smooth):
    """y = arccos(x);  dy/dx = −1 / √(1 − x²).  Shapes: x (...) -> y (...); NaN outside [−1, 1]."""

    functions = methods = ("arccos", "acos")
    _f = staticmethod(_either("arccos"))

    def local(self, x, out):
        return -1 / _sqrt(1 - x * x)

    def local_text(self, n, x, y):
        return n.neg(n.div(n.one, n.sqrt(n.sub(n.one, n.pow(x, 2)))))


class Arctan(_Smooth):
    """y = arctan(x);  dy/dx = 1 / (1 + x²).  Shapes: x (...) -> y (...)."""

    functions = methods = ("arctan", "atan")
    _f = staticmethod(_either("arctan"))

    def local(self, x, out):
        return 1 / (x * x + 1)

    def local_text(self, n, x, y):
        return n.div(n.one, n.add(n.one, n.pow(x, 2)))


class Sinh(_Smooth):
    """y = sinh(x);  dy/dx = cosh(x).  Shapes: x (...) -> y (...)."""

    functions = methods = ("sinh",)
    _f = staticmethod(_either("sinh"))

    def local(self, x, out):
        return _cosh(x)

    def local_text(self, n, x, y):
        return n.call("cosh", x)


class Cosh(_Smooth):
    """y = cosh(x);  dy/dx = sinh(x).  Shapes: x (...) -> y (...)."""

    functions = methods = ("cosh",)
    _f = staticmethod(_either("cosh"))

    def local(self, x, out):
        return _sinh(x)

    def local_text(self, n, x, y):
        return n.call("sinh", x)


class Log1p(_Smooth):
    """y = log(1 + x), exact for small x;  dy/dx = 1 / (1 + x).  Shapes: x (...) -> y (...)."""

    functions = methods = ("log1p",)
    _f = staticmethod(_either("log1p"))

    def local(self, x, out):
        return 1 / (x + 1)

    def local_text(self, n, x, y):
        return n.div(n.one, n.add(n.one, x))


class Expm1(_Smooth):
    """y = exp(x) − 1, exact for small x;  dy/dx = exp(x) = y + 1.  Shapes: x (...) -> y (...)."""

    functions = methods = ("expm1",)
    _f = staticmethod(_either("expm1"))

    def local(self, x, out):
        return out + 1

    def local_text(self, n, x, y):
        return n.add(y, n.one)


class Log2(_Smooth):
    """y = log₂(x);  dy/dx = 1 / (x ln 2).  Shapes: x (...) -> y (...)."""

    functions = methods = ("log2",)
    _f = staticmethod(_either("log2"))

    def local(self, x, out):
        return 1 / (x * _LN2)

    def local_text(self, n, x, y):
        return n.div(n.one, n.mul(x, n.call("ln", "2")))


class Log10(_Smooth):
    """y = log₁₀(x);  dy/dx = 1 / (x ln 10).  Shapes: x (...) -> y (...)."""

    functions = methods = ("log10",)
    _f = staticmethod(_either("log10"))

    def local(self, x, out):
        return 1 / (x * _LN10)

    def local_text(self, n, x, y):
        return n.div(n.one, n.mul(x, n.call("ln", "10")))


class Reciprocal(_Smooth):
    """y = 1 / x;  dy/dx = −1 / x² = −y².  Shapes: x (...) -> y (...)."""

    functions = methods = ("reciprocal",)
    _f = staticmethod(_either("reciprocal"))

    def local(self, x, out):
        return -(out * out)

    def local_text(self, n, x, y):
        return n.neg(n.pow(y, 2))


class Sign(_Unary):
    """y = sign(x): −1, 0 or 1 (0 at NaN, as PyTorch's);  dy/dx = 0.  Shapes: x (...) -> y (...)."""

    functions = methods = ("sign",)
    backward_records = True  # a constant zero, whatever the upstream
    array_api = True

    def forward(self, x):
        xp = xp_of(x)
        s = xp.sign(x)
        if xp is not np:
            return xp.where(s == s, s, xp.zeros_like(s))
        return np.where(s == s, s, 0).astype(s.dtype, copy=False)

    def backward(self, upstream):
        return (constant(upstream, 0, tuple(upstream.shape)),)  # of the upstream's library, also in a recording

    def written(self, n, y, x):
        return Written(n.call("sign", x), (n.num(0),))


class Clip(_Unary):
    """y = min(max(x, a_min), a_max);  dy/dx = 1 where a_min <= x <= a_max (the bounds included, as
    PyTorch's clamp), else 0.  Shapes: x (...) -> y (...). Either bound may be None."""

    functions = methods = ("clip", "clamp")
    saves = ("x",)
    backward_records = True  # the upstream times a mask of comparisons
    array_api = True

    def __init__(self, a_min, a_max=None):
        if a_min is None and a_max is None:
            raise ValueError("clip: give a_min, a_max or both")
        self.a_min, self.a_max = a_min, a_max

    def params(self):
        return {"a_min": self.a_min, "a_max": self.a_max}

    def forward(self, x):
        self.saved = (x,)
        xp = xp_of(x)
        if xp is not np:
            return xp.clip(x, None if self.a_min is None else float(self.a_min),
                           None if self.a_max is None else float(self.a_max))
        return np.clip(x, self.a_min, self.a_max)

    def backward(self, upstream):
        (x,) = self.saved
        inside = None
        if self.a_min is not None:
            inside = x >= self.a_min
        if self.a_max is not None:
            inside = (x <= self.a_max) if inside is None else inside & (x <= self.a_max)
        return (masked(upstream, inside),)

    def written(self, n, y, x):
        lo = "−∞" if self.a_min is None else n.num(self.a_min)
        hi = "∞" if self.a_max is None else n.num(self.a_max)
        return Written(n.call("clip", x, lo, hi), (n.indicator(lo, "≤", f"{x} ≤ {hi}"),))


class _Choose(_KeepsOperands):
    """Shared backward of maximum and minimum: the gradient goes to the chosen operand; on a
    tie each gets half."""

    in_expressions = True
    backward_records = True
    array_api = True

    def forward(self, a, b):
        xp = xp_of(a, b)
        if xp is np:
            return super().forward(a, b)
        self.saved = (a, b)
        return self._standard(xp)(a, b)

    def backward(self, upstream):
        need, (a, b) = self.needs_input_grad, self.saved
        if is_foreign(values_of(upstream)):  # the standard's arrays (or Tensors of them): comparisons as numbers
            xp = namespace_of(values_of(upstream))
            dtype = upstream.dtype
            tie = 0.5 * xp.astype(a == b, dtype)
            return (
                summed_to(upstream * (1 - xp.astype(self._pick(b, a), dtype) - tie), a) if need[0] else None,
                summed_to(upstream * (1 - xp.astype(self._pick(a, b), dtype) - tie), b) if need[1] else None,
            )
        # 1 unless the operand loses (0) or ties (1/2): a NaN on either side passes the gradient to both,
        # as in PyTorch
        # (comparisons give arrays also for Tensor operands: the backward records as it is)
        tie = 0.5 * (a == b)
        dtype = upstream.dtype
        return (
            summed_to(upstream * (1 - self._pick(b, a) - tie).astype(dtype, copy=False), a) if need[0] else None,
            summed_to(upstream * (1 - self._pick(a, b) - tie).astype(dtype, copy=False), b) if need[1] else None,
        )

    def written(self, n, y, a, b):
        rel = ">" if self._pick is gt else "<"
        return Written(n.call(self.functions[0], a, b), (n.indicator(a, rel, b), n.indicator(b, rel, a)))


class Maximum(_Choose):
    """y = max(a, b) elementwise;  dy/da = [a > b] (1/2 on ties), dy/db = [b > a] (1/2 on ties).

    Shapes: a, b broadcastable -> y (broadcast).
    """

    functions = ("maximum",)
    _combine = staticmethod(np.maximum)
    _pick = staticmethod(gt)

    @staticmethod
    def _standard(xp):
        return xp.maximum


class Minimum(_Choose):
    """y = min(a, b) elementwise;  dy/da = [a < b] (1/2 on ties), dy/db = [b < a] (1/2 on ties).

    Shapes: a, b broadcastable -> y (broadcast).
    """

    functions = ("minimum",)
    _combine = staticmethod(np.minimum)
    _pick = staticmethod(lt)

    @staticmethod
    def _standard(xp):
        return xp.minimum


class Where(Op):
    """y = a where cond else b;  dy/da = [cond], dy/db = [not cond], cond gets no gradient.

    Shapes: cond (bool), a, b broadcastable -> y (broadcast).
    """

    arity = 3
    fresh_grads = True
    functions = ("where",)
    saves = ("cond", "a_shape", "b_shape")
    array_api = True

    def forward(self, cond, a, b):
        xp = xp_of(cond, a, b)
        if xp is not np:
            cond = xp.asarray(cond if is_foreign(cond) else np.asarray(cond, dtype=bool))
            cond = cond if cond.dtype == xp.bool else xp.astype(cond, xp.bool)
            self.saved = (cond, shape_of(a), shape_of(b))
            return xp.where(cond, a, b)
        cond = np.asarray(cond, dtype=bool)
        try:
            out = np.where(cond, a, b)
        except ValueError:
            raise ShapeError(
                f"where: cannot broadcast shapes {cond.shape}, {shape_of(a)} and {shape_of(b)}"
            ) from None
        self.saved = (cond, shape_of(a), shape_of(b))
        return out

    def backward(self, upstream):
        need, (cond, a_shape, b_shape) = self.needs_input_grad, self.saved
        xp = xp_of(upstream)
        zero = xp.zeros((), dtype=upstream.dtype)
        if xp is not np:
            return (
                None,
                unbroadcast(xp.where(cond, upstream, zero), a_shape) if need[1] else None,
                unbroadcast(xp.where(cond, zero, upstream), b_shape) if need[2] else None,
            )
        return (
            None,
            unbroadcast(np.where(cond, upstream, zero), a_shape) if need[1] else None,
            unbroadcast(np.where(cond, zero, upstream), b_shape) if need[2] else None,
        )

    def recorded_backward(self, upstream):
        need, (cond, a_shape, b_shape) = self.needs_input_grad, self.saved
        zero = constant(upstream, 0)
        return (
            None,
            unbroadcast(Where.apply(cond, upstream, zero), a_shape) if need[1] else None,
            unbroadcast(Where.apply(cond, zero, upstream), b_shape) if need[2] else None,
        )

    def written(self, n, y, cond, a, b):
        return Written(n.call("where", cond, a, b), (None, n.indicator(cond, "≠", "0"), n.indicator(cond, "=", "0")))
