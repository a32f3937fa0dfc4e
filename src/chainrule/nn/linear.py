"""``Linear`` (PyTorch's layout) and the lecture's ``LinearRegression`` (μ = Xθ).

Each runs one fused block instead of a chain of matmul, transpose and add: the
same chain rule in one forward and one backward, with fewer nodes for the
engine to visit. ``Linear`` uses the core's :class:`chainrule.ops.Linear`;
``LinearRegression`` uses :class:`LinearRegressionOp`, whose output is the
vector μ (n,) and whose products are matrix-vector ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy import add, dot, ndarray

from ..backend import is_foreign, namespace_of
from ..errors import ShapeError
from ..inplace import overwrite
from ..ops import Linear as LinearOp
from ..ops.base import Chain, Op, Written, shape_of
from ..serialization import register_model
from ..tensor import Tensor, apply_op
from . import init
from .module import Module, Parameter


class LinearRegressionOp(Op):
    """μ = X w + b, a vector;  dμ/dX = w, dμ/dw = X (summed over objects), dμ/db = 1 (summed over objects).

    The lecture's μ = Xθ as one block. Shapes: X (..., d), W (1, d), b (1,) or
    absent -> μ (...) (for X (n, d): μ (n,)). Backward, with U the upstream gradient
    flattened to (n,) and X to (n, d): dX = U wᵀ (outer product), dW = (Uᵀ X) as (1, d),
    db = (Σ U,). Only what backward will use is kept: X for dW, W for dX.
    """

    fresh_grads = True
    saves = ("X", "W", "x_shape", "has_bias")
    array_api = True  # NumPy's fast calls below; the same products in the standard's spelling otherwise

    def forward(self, X, W, *b):
        if type(X) is not ndarray:
            X = X if is_foreign(X) else np.asarray(X)
        try:
            out = X @ (W[0] if type(W) is ndarray else W[0, ...])  # matrix-vector: (..., d) @ (d,) -> (...)
        except (ValueError, IndexError):
            out = None
        w_shape = W.shape
        if out is None or len(w_shape) != 2 or w_shape[0] != 1:
            raise ShapeError(
                f"linear regression: features of shape {shape_of(X)} do not fit a weight of shape {shape_of(W)} "
                f"(the weight is (1, d) and the features' last axis must be d)"
            )
        need = self.needs_input_grad
        self.saved = (X if need[1] else None, W if need[0] else None, X.shape, bool(b))
        if b:
            bias = b[0][0]  # a scalar: adding a one-element array costs NumPy more
            if type(out) is ndarray and out.dtype == bias.dtype:
                out += bias  # a fresh array of the same dtype: adding in place saves a copy
            else:
                out = out + bias
        return out

    def backward(self, upstream):
        need, (X, W, x_shape, has_bias) = self.needs_input_grad, self.saved
        if type(upstream) is not ndarray and is_foreign(upstream):
            return self._backward_xp(upstream)
        g = upstream if upstream.ndim == 1 else upstream.reshape(-1)  # (n,)
        dX = dW = db = None
        if need[0]:
            dX = np.multiply.outer(g, W[0]).reshape(x_shape)
        if need[1]:
            # np.dot, not @, skips the matmul ufunc's dispatch; (1, n) · (n, d) gives a fresh
            # (1, d) array, not a view, which the weight's .grad can keep without checking its base.
            dW = dot(g[None], X if X.ndim == 2 else X.reshape(-1, X.shape[-1]))
        if has_bias and need[2]:
            db = add.reduce(g, keepdims=True)  # (1,)
        return (dX, dW, db) if has_bias else (dX, dW)

    def _backward_xp(self, upstream):
        """The same gradients in the array API standard's functions (CuPy's, array-api-strict's arrays)."""
        need, (X, W, x_shape, has_bias) = self.needs_input_grad, self.saved
        xp = namespace_of(upstream)
        g = xp.reshape(upstream, (-1,))
        dX = xp.reshape(g[:, None] * W[0, :], x_shape) if need[0] else None
        dW = g[None, :] @ xp.reshape(X, (-1, x_shape[-1])) if need[1] else None
        db = xp.sum(g, keepdims=True) if has_bias and need[2] else None
        return (dX, dW, db) if has_bias else (dX, dW)

    def recorded_backward(self, upstream):
        need, (X, W, x_shape, has_bias) = self.needs_input_grad, self.saved
        g = upstream.reshape(-1)  # (n,)
        dX = dW = db = None
        if need[0]:
            dX = (g.reshape(-1, 1) * W).reshape(x_shape)  # the outer product U wᵀ
        if need[1]:
            dW = g.reshape(1, -1) @ (X if X.ndim == 2 else X.reshape(-1, X.shape[-1]))
        if has_bias and need[2]:
            db = g.sum(axis=0, keepdims=True)
        return (dX, dW, db) if has_bias else (dX, dW)

    def written(self, n, y, X, W, *b):
        w = n.T(W)
        rhs = n.matmul(X, w) if not b else n.add(n.matmul(X, w), b[0])
        return Written(rhs, (Chain(w, lambda U: n.matmul(U, W)), Chain(X, lambda U: n.matmul(n.T(U), X)),
                             *[n.one] * len(b)), "@")


def _check_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"a layer's dtype must be floating point, got {dtype}")
    return dtype


@register_model
class Linear(Module):
    """y = x Wᵀ + b, with PyTorch's layout so state dicts map one to one onto ``torch.nn.Linear``.

    Parameters
    ----------
    in_features, out_features : sizes of the input's last axis and of the output's.
    bias : learn an additive bias (``bias`` is None otherwise).
    dtype : dtype of the parameters (float64 by default; float32 stays float32).
    rng : Generator or seed for the initialisation. ``None`` draws from a fresh
        unseeded generator; pass one for reproducible weights.

    Attributes
    ----------
    weight : Parameter of shape (out_features, in_features), initialised as PyTorch's
        default: U(−1/√in, 1/√in).
    bias : Parameter of shape (out_features,), same distribution, or None.

    Shapes: input (..., in_features) -> output (..., out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = "float64",
                 rng: np.random.Generator | int | None = None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ShapeError(f"Linear: sizes must be positive, got in={in_features}, out={out_features}")
        dt = _check_dtype(dtype)
        self.in_features, self.out_features = int(in_features), int(out_features)
        g = init.as_generator(rng)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(init.uniform((out_features, in_features), g, -bound, bound, dtype=dt))
        if bias:
            self.bias = Parameter(init.uniform((out_features,), g, -bound, bound, dtype=dt))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        """x (..., in_features) -> (..., out_features)."""
        if self.bias is None:
            return apply_op(LinearOp(), x, self.weight)
        return apply_op(LinearOp(), x, self.weight, self.bias)

    def config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "dtype": str(self.weight.dtype),
        }


@register_model
class LinearRegression(Module):
    """The lecture's model: μ = Xθ (+ b), with θ drawn from N(0, 1) by default.

    Stored as a one-output :class:`Linear` would be (``weight`` (1, n_features),
    ``bias`` (1,)), so a state dict loads into ``torch.nn.Linear(n_features, 1)``.

    Parameters
    ----------
    n_features : number of input features d.
    bias : learn an intercept b.
    dtype : parameter dtype.
    rng : Generator or seed for the N(0, 1) initial values (``None``: unseeded).
    init_std : standard deviation of the initial values (1: the lecture's N(0, 1)).

    Shapes: X (n, d) -> μ (n,); a single object x (d,) -> μ ().
    """

    def __init__(self, n_features: int, bias: bool = True, dtype: Any = "float64",
                 rng: np.random.Generator | int | None = None, init_std: float = 1.0):
        super().__init__()
        if n_features < 1:
            raise ShapeError(f"LinearRegression: n_features must be positive, got {n_features}")
        dt = _check_dtype(dtype)
        self.n_features = int(n_features)
        self.init_std = float(init_std)
        g = init.as_generator(rng)
        self.weight = Parameter(init.normal((1, n_features), g, 0.0, init_std, dtype=dt))
        if bias:
            self.bias = Parameter(init.normal((1,), g, 0.0, init_std, dtype=dt))
        else:
            self.register_parameter("bias", None)

    def forward(self, X: Tensor | np.ndarray) -> Tensor:
        """X (n, d) -> μ = Xθ + b, shape (n,)."""
        if self.bias is None:
            return apply_op(LinearRegressionOp(), X, self.weight)
        return apply_op(LinearRegressionOp(), X, self.weight, self.bias)

    def config(self) -> dict[str, Any]:
        return {
            "n_features": self.n_features,
            "bias": self.bias is not None,
            "dtype": str(self.weight.dtype),
            "init_std": self.init_std,
        }

    # -- the lecture's θ -----------------------------------------------------------------
    @property
    def theta(self) -> np.ndarray:
        """θ as one vector: the d weights, then the intercept when there is one. Shape (d,) or (d+1,)."""
        parts = [self.weight.data.reshape(-1)]
        if self.bias is not None:
            parts.append(self.bias.data)
        return np.concatenate(parts)

    def set_theta(self, theta: Any) -> LinearRegression:
        """Set the parameters from a θ vector laid out as :attr:`theta`; returns ``self``."""
        theta = np.asarray(theta)
        n = self.n_features + (self.bias is not None)
        if theta.shape != (n,):
            raise ShapeError(f"set_theta: expected shape ({n},), got {theta.shape}")
        overwrite(self.weight, theta[: self.n_features])
        if self.bias is not None:
            overwrite(self.bias, theta[self.n_features:])
        return self

    @classmethod
    def closed_form(cls, X: Any, Y: Any, bias: bool = True, dtype: Any = None) -> LinearRegression:
        """The least-squares optimum θ* = argmin ‖Xθ + b − Y‖², as a model.

        Solved with ``numpy.linalg.lstsq`` (SVD) on [X, 1], which also copes with
        collinear features (minimum-norm solution).

        Parameters
        ----------
        X : (n, d) features. Y : (n,) targets.
        bias : fit an intercept.
        dtype : dtype of the returned model (default: X's floating dtype, else float64).
        """
        theta = least_squares(X, Y, bias=bias)
        X = np.asarray(X)
        if dtype is None:
            dtype = X.dtype if X.dtype.kind == "f" else np.float64
        model = cls(X.shape[1], bias=bias, dtype=dtype, rng=0)
        return model.set_theta(theta.astype(dtype))


def least_squares(X: Any, Y: Any, bias: bool = True) -> np.ndarray:
    """θ* minimising ‖Xθ (+ b) − Y‖², computed in float64. Shapes: X (n, d), Y (n,) -> (d,) or (d+1,)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.shape != (X.shape[0],):
        raise ShapeError(f"least_squares: expected X (n, d) and Y (n,), got {X.shape} and {Y.shape}")
    A = np.concatenate([X, np.ones((X.shape[0], 1))], axis=1) if bias else X
    theta, *_ = np.linalg.lstsq(A, Y, rcond=None)
    return theta
