"""Matrix blocks: the lecture's μ = Xθ, i.e. matrix/vector multiplication."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .base import Chain, Op, Written, shape_of, unbroadcast


def _swap_last(x):
    """``x`` with its last two axes swapped (a transpose for arrays and Tensors alike)."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return x.transpose(tuple(axes))


class MatMul(Op):
    """y = a @ b;  dy/da = upstream @ bᵀ, dy/db = aᵀ @ upstream.

    Shapes, as ``numpy.matmul``: (n,)·(n,) -> (); (m, n)·(n,) -> (m,);
    (n,)·(n, p) -> (p,); (m, n)·(n, p) -> (m, p); and stacks (..., m, n)·(..., n, p)
    -> (..., m, p) with the leading dimensions broadcast (summed back in backward).
    """

    arity = 2
    fresh_grads = True
    functions = ("matmul",)
    operator = "matmul"
    in_expressions = True
    symbol = "@"
    saves = ("a", "b")
    backward_records = True  # matmul, transposes and reshapes: the same on Tensors

    def forward(self, a, b):
        try:
            out = np.matmul(a, b)
        except ValueError:
            raise ShapeError(f"matmul: cannot multiply {shape_of(a)} by {shape_of(b)}") from None
        self.saved = (a, b)
        return out

    def backward(self, upstream):
        need, (a, b) = self.needs_input_grad, self.saved
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshaping
            return (upstream @ b.T if need[0] else None, a.T @ upstream if need[1] else None)
        # Treat vectors as matrices: a (n,) as (1, n) and b (n,) as (n, 1).
        a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
        b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
        g = upstream
        if b.ndim == 1:  # first: for vector.vector the upstream is 0-d and has no axis -2 yet
            g = g.reshape(g.shape + (1,))
        if a.ndim == 1:
            g = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:])
        da = db = None
        if need[0]:
            da = g @ _swap_last(b2)
            da = unbroadcast(da.reshape(da.shape[:-2] + (a.shape[-1],)) if a.ndim == 1 else da, a.shape)
        if need[1]:
            db = _swap_last(a2) @ g
            db = unbroadcast(db.reshape(db.shape[:-2] + (b.shape[0],)) if b.ndim == 1 else db, b.shape)
        return da, db

    def written(self, n, y, a, b):
        return Written(n.matmul(a, b), (Chain(b, lambda U: n.matmul(U, n.T(b))),
                                        Chain(a, lambda U: n.matmul(n.T(a), U))))
