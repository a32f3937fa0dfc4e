"""Matrix blocks: the lecture's μ = Xθ, i.e. matrix/vector multiplication."""

from __future__ import annotations

import numpy as np

from ..backend import eye, is_foreign, like, namespace_of, numpy_dtype, reshaped, transposed, xp_of
from ..errors import ShapeError
from .base import Chain, Op, Written, shape_of, unbroadcast


def _swap_last(x):
    """``x`` with its last two axes swapped (a transpose for arrays and Tensors alike)."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transposed(x, tuple(axes))


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

    array_api = True

    def forward(self, a, b):
        try:
            out = np.matmul(a, b) if type(a) is np.ndarray else a @ b
        except (ValueError, TypeError):
            raise ShapeError(f"matmul: cannot multiply {shape_of(a)} by {shape_of(b)}") from None
        self.saved = (a, b)
        return out

    def backward(self, upstream):
        need, (a, b) = self.needs_input_grad, self.saved
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshaping
            return (upstream @ b.T if need[0] else None, a.T @ upstream if need[1] else None)
        # Treat vectors as matrices: a (n,) as (1, n) and b (n,) as (n, 1).
        a_shape, b_shape = tuple(a.shape), tuple(b.shape)
        a2 = reshaped(a, (1,) + a_shape) if a.ndim == 1 else a
        b2 = reshaped(b, b_shape + (1,)) if b.ndim == 1 else b
        g = upstream
        if b.ndim == 1:  # first: for vector.vector the upstream is 0-d and has no axis -2 yet
            g = reshaped(g, tuple(g.shape) + (1,))
        if a.ndim == 1:
            g = reshaped(g, tuple(g.shape)[:-1] + (1,) + tuple(g.shape)[-1:])
        da = db = None
        if need[0]:
            da = g @ _swap_last(b2)
            da = unbroadcast(reshaped(da, tuple(da.shape)[:-2] + (a_shape[-1],)) if a.ndim == 1 else da, a_shape)
        if need[1]:
            db = _swap_last(a2) @ g
            db = unbroadcast(reshaped(db, tuple(db.shape)[:-2] + (b_shape[0],)) if b.ndim == 1 else db, b_shape)
        return da, db

    def written(self, n, y, a, b):
        return Written(n.matmul(a, b), (Chain(b, lambda U: n.matmul(U, n.T(b))),
                                        Chain(a, lambda U: n.matmul(n.T(a), U))))


class Dot(MatMul):
    """y = a · b for vectors and matrices (``numpy.dot``, at most 2 dimensions each);  dy/da = upstream bᵀ,
    dy/db = aᵀ upstream.  Shapes: (n,)·(n,) -> (); (m, n)·(n,) -> (m,); (n,)·(n, p) -> (p,); (m, n)·(n, p) -> (m, p).
    """

    functions = ("dot",)
    operator = None
    in_expressions = False
    symbol = "·"

    def forward(self, a, b):
        if np.ndim(a) > 2 or np.ndim(b) > 2 or np.ndim(a) == 0 or np.ndim(b) == 0:
            raise ShapeError(f"dot: takes vectors and matrices, got shapes {shape_of(a)} and {shape_of(b)}; "
                             f"use matmul for stacks and * for numbers")
        return super().forward(a, b)


class Outer(Op):
    """y = a bᵀ, y[i, j] = a[i] b[j];  dy/da = upstream b, dy/db = upstreamᵀ a.  Shapes: a (m,), b (n,) -> y (m, n)."""

    arity = 2
    fresh_grads = True
    functions = ("outer",)
    saves = ("a", "b")
    backward_records = True  # matrix-vector products
    array_api = True

    def forward(self, a, b):
        if len(shape_of(a)) != 1 or len(shape_of(b)) != 1:
            raise ShapeError(f"outer: takes two vectors, got shapes {shape_of(a)} and {shape_of(b)}")
        self.saved = (a, b)
        if is_foreign(a) or is_foreign(b):
            return a[:, None] * b[None, :]
        return np.multiply.outer(a, b)

    def backward(self, upstream):
        need, (a, b) = self.needs_input_grad, self.saved
        return (upstream @ b if need[0] else None, upstream.T @ a if need[1] else None)

    def written(self, n, y, a, b):
        return Written(n.matmul(a, n.T(b)), (Chain(b, lambda U: n.matmul(U, b)),
                                             Chain(a, lambda U: n.matmul(n.T(U), a))))


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _explicit(op: Op, subscripts: str, shapes: list) -> tuple[list[str], str]:
    """The subscripts of every operand and of the output, with ``...`` spelled out as letters and the
    output written even where NumPy implies it (the letters that appear once, in order)."""
    text = subscripts.replace(" ", "")
    inputs, arrow, out = text.partition("->")
    parts = inputs.split(",")
    if len(parts) != len(shapes):
        raise ShapeError(f"einsum: {subscripts!r} names {len(parts)} operands, {len(shapes)} given")
    used = set(text.replace(".", "").replace(",", "").replace("-", "").replace(">", ""))
    free = [c for c in _LETTERS if c not in used]
    widest = max((len(sh) - (len(p) - 3) for p, sh in zip(parts, shapes) if "..." in p), default=0)
    ellipsis = "".join(free[:widest])
    spelled = []
    for p, sh in zip(parts, shapes):
        if "..." in p:
            k = len(sh) - (len(p) - 3)
            p = p.replace("...", ellipsis[widest - k:] if k else "")
        if len(p) != len(sh):
            raise ShapeError(f"einsum: operand subscripts {p!r} do not fit shape {tuple(sh)}")
        spelled.append(p)
    if arrow:
        out = out.replace("...", ellipsis)
    else:
        letters = "".join(spelled)
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis))
    return spelled, out


def _onto_diagonal(g, distinct: str, target: str, sizes: dict, contract, used: set):
    """The gradient of an operand whose subscripts repeat an index (``"iij"``, a diagonal): g, over the
    distinct indices (``"ij"``), put on the diagonal and zero elsewhere, as einsum with identity matrices
    (``"ij,ik->ikj"``), so that the recorded backward records it too."""
    fresh = iter(c for c in _LETTERS if c not in used)
    seen: set[str] = set()
    spelled, eyes = [], []
    for c in target:
        if c in seen:
            d = next(fresh)
            spelled.append(d)
            eyes.append((c + d, eye(g, sizes[c])))
        else:
            seen.add(c)
            spelled.append(c)
    return contract(",".join([distinct, *(s for s, _ in eyes)]) + "->" + "".join(spelled), g,
                    *(eye for _, eye in eyes))


def _contract(subscripts: str, *operands) -> np.ndarray:
    """``numpy.einsum`` through BLAS where it can (``optimize=True``: tensordot for a pair of operands); the
    library's own einsum for another library's arrays (CuPy has one), else :func:`_standard_einsum`."""
    xp = xp_of(*operands)
    if xp is not np:
        own = getattr(xp, "einsum", None)
        return own(subscripts, *operands) if own is not None else _standard_einsum(xp, subscripts, *operands)
    return np.asarray(np.einsum(subscripts, *operands, optimize=True))


def _standard_einsum(xp, subscripts: str, *operands):
    """einsum in the standard's functions, for a library without one: every operand permuted to one order of
    all the letters and broadcast over those it lacks, multiplied, and summed over the letters the output
    lacks (exact, memory the product of every letter's size: for the small sizes of tests). Explicit
    subscripts (``"ij,jk->ik"``) without a letter repeated in one operand."""
    inputs, out = subscripts.split("->")
    parts = inputs.split(",")
    letters = "".join(dict.fromkeys("".join(parts)))
    product = None
    for part, x in zip(parts, operands):
        x = xp.asarray(x)
        while len(set(part)) != len(part):  # a repeated index: the diagonal, by an identity and a sum
            c = next(c for c in part if part.count(c) > 1)
            a, b = part.index(c), part.index(c, part.index(c) + 1)
            n = x.shape[a]
            eye = xp.reshape(xp.eye(n, dtype=x.dtype), tuple(n if k in (a, b) else 1 for k in range(x.ndim)))
            x = xp.sum(x * eye, axis=b)
            part = part[:b] + part[b + 1:]
        order = sorted(range(len(part)), key=lambda i: letters.index(part[i]))
        x = xp.permute_dims(x, tuple(order)) if order != list(range(len(part))) else x
        placed = "".join(part[i] for i in order)
        x = xp.reshape(x, tuple(x.shape[placed.index(c)] if c in placed else 1 for c in letters))
        product = x if product is None else product * x
    summed = tuple(i for i, c in enumerate(letters) if c not in out)
    result = xp.sum(product, axis=summed) if summed else product
    kept = "".join(c for c in letters if c in out)
    return xp.permute_dims(result, tuple(kept.index(c) for c in out)) if kept != out else result


class Einsum(Op):
    """y = einsum(subscripts, x1, x2, ...);  dy/dxk = einsum of the upstream and the other operands into xk's
    subscripts (an index only xk has is broadcast back).

    Shapes: as ``numpy.einsum`` (``...`` allowed; an index repeated within one operand takes its diagonal,
    whose gradient goes back onto the diagonal).
    """

    fresh_grads = False  # a broadcast gradient is a view (chainrule.einsum, in NumPy's order of arguments)
    saves = ("inputs", "spelled", "out_subscripts")

    def __init__(self, subscripts: str):
        self.subscripts = subscripts

    def params(self):
        return {"subscripts": self.subscripts}

    array_api = True  # the library's einsum, or the standard's functions (_standard_einsum)

    def forward(self, *xs):
        if not isinstance(self.subscripts, str):
            raise ShapeError(f"einsum: subscripts must be a string such as 'ij,jk->ik', got {self.subscripts!r}")
        spelled, out = _explicit(self, self.subscripts, [shape_of(x) for x in xs])
        if xp_of(*xs) is not np:
            y = _contract(",".join(spelled) + "->" + out, *xs)
            self.saved = (xs, spelled, out)
            return y
        try:
            y = np.einsum(",".join(spelled) + "->" + out, *xs, optimize=True)  # optimize: through BLAS
        except ValueError as exc:
            shapes = ", ".join(str(shape_of(x)) for x in xs)
            raise ShapeError(f"einsum: {self.subscripts!r} does not fit shapes {shapes}: {exc}") from None
        self.saved = (xs, spelled, out)
        return np.asarray(y)

    def _gradient(self, upstream, k: int, operands, spelled, out, contract):
        target = spelled[k]
        distinct = "".join(dict.fromkeys(target))  # a repeated index (a diagonal) once
        others = [i for i in range(len(operands)) if i != k]
        known = set(out).union(*(spelled[i] for i in others))
        present = "".join(c for c in distinct if c in known)  # what einsum can produce; the rest is broadcast
        g = contract(",".join([out, *(spelled[i] for i in others)]) + "->" + present,
                     upstream, *(operands[i] for i in others))
        shape = operands[k].shape
        sizes = {c: shape[j] for j, c in enumerate(target)}
        if present != distinct:
            full = tuple(sizes[c] for c in distinct)
            g = reshaped(g, tuple(sizes[c] if c in known else 1 for c in distinct))
            if is_foreign(g):
                g = namespace_of(g).broadcast_to(g, full)
            else:
                g = g.broadcast_to(full) if not isinstance(g, np.ndarray) else np.broadcast_to(g, full)
        if distinct != target:
            g = _onto_diagonal(g, distinct, target, sizes, contract, set("".join([out, *spelled])))
        return g

    def backward(self, upstream):
        need, (operands, spelled, out) = self.needs_input_grad, self.saved
        return tuple(self._gradient(upstream, k, operands, spelled, out, _contract) if need[k] else None
                     for k in range(len(operands)))

    def recorded_backward(self, upstream):
        need, (operands, spelled, out) = self.needs_input_grad, self.saved  # operands linked in the graph

        def contract(subscripts, *xs):
            return Einsum.apply(*xs, subscripts=subscripts)

        return tuple(self._gradient(upstream, k, operands, spelled, out, contract) if need[k] else None
                     for k in range(len(operands)))

    def written(self, n, y, *xs):
        return Written(n.call("einsum", repr(self.subscripts), *xs), (None,) * len(xs))


# -- inverse, determinant, solve, Cholesky (the formulas of HIPS autograd, batched over leading axes) -----


def _is_array(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


def _inv(x):
    if is_foreign(x):
        return namespace_of(x).linalg.inv(x)
    return np.linalg.inv(x) if _is_array(x) else Inv.apply(x)


def _solve(a, b):
    if is_foreign(a) or is_foreign(b):
        return _standard_solve(a, b)
    return np.linalg.solve(a, b) if _is_array(a) and _is_array(b) else Solve.apply(a, b)


def _standard_solve(a, b):
    """``numpy.linalg.solve`` in the standard's linalg: its solve takes b as a stack of vectors, never a
    lone vector; a b of one dimension is solved as one column."""
    xp = xp_of(a, b)
    if b.ndim == 1:
        return xp.linalg.solve(a, b[:, None])[..., 0]
    return xp.linalg.solve(a, b)


def _square(op: Op, x) -> None:
    shape = shape_of(x)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"{op.name}: expected square matrices (..., n, n), got shape {shape}")


def _factor(op: Op, x, compute, failure: str) -> np.ndarray:
    """``compute(x)`` (an inverse, a factorisation) of square matrices, LAPACK's refusal as a ShapeError;
    the namespace's own function of that name for the standard's arrays."""
    _square(op, x)
    if is_foreign(x):
        compute = getattr(namespace_of(x).linalg, compute.__name__)
    try:
        return compute(x)
    except np.linalg.LinAlgError as exc:
        raise ShapeError(f"{op.name}: {failure} ({exc})") from None


class Inv(Op):
    """y = x⁻¹;  dL/dx = −yᵀ U yᵀ (U the upstream).  Shapes: x (..., n, n) -> y (..., n, n)."""

    arity = 1
    fresh_grads = True
    functions = ("inv",)
    saves = ("out",)
    backward_records = True  # matrix products of the output
    array_api = True

    def forward(self, x):
        out = _factor(self, x, np.linalg.inv, "the matrix is singular")
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (out,) = self.saved
        t = _swap_last(out)
        return (-(t @ upstream @ t),)

    def written(self, n, y, x):
        return Written(n.call("inv", x), (Chain(None, lambda U: n.neg(n.matmul(n.matmul(n.T(y), U), n.T(y)))),))


class Det(Op):
    """y = det(x);  dy/dx = det(x) x⁻ᵀ.  Shapes: x (..., n, n) -> y (...). (Invertible x: the formula
    divides by nothing but needs x⁻¹.)"""

    arity = 1
    fresh_grads = True
    functions = ("det",)
    saves = ("x", "out")
    backward_records = True  # the inverse and products: Inv on Tensors
    array_api = True

    def forward(self, x):
        _square(self, x)
        out = namespace_of(x).linalg.det(x) if is_foreign(x) else np.asarray(np.linalg.det(x))
        self.saved = (x, out)
        return out

    def backward(self, upstream):
        x, out = self.saved
        scale = reshaped(upstream * out, tuple(upstream.shape) + (1, 1))
        return (scale * _swap_last(_inv(x)),)

    def written(self, n, y, x):
        return Written(n.call("det", x), (n.mul(y, n.T(n.call("inv", x))),))


class LogAbsDet(Op):
    """y = log |det(x)|;  dy/dx = x⁻ᵀ.  Shapes: x (..., n, n) -> y (...). (:func:`slogdet` gives the sign too.)"""

    arity = 1
    fresh_grads = True
    functions = ("logabsdet",)
    saves = ("x",)
    backward_records = True
    array_api = True

    def forward(self, x):
        _square(self, x)
        self.saved = (x,)
        if is_foreign(x):
            return namespace_of(x).linalg.slogdet(x)[1]
        return np.asarray(np.linalg.slogdet(x)[1])

    def backward(self, upstream):
        (x,) = self.saved
        return (reshaped(upstream, tuple(upstream.shape) + (1, 1)) * _swap_last(_inv(x)),)

    def written(self, n, y, x):
        return Written(n.call("log|det|", x), (n.T(n.call("inv", x)),))


class Solve(Op):
    """y = a⁻¹ b (the solution of a y = b);  dL/db = a⁻ᵀ U, dL/da = −(a⁻ᵀ U) yᵀ.

    Shapes: a (..., n, n), b (..., n, k) or (n,) -> y shaped like b (as ``numpy.linalg.solve``).
    """

    arity = 2
    fresh_grads = True
    functions = ("solve",)
    saves = ("a", "out")
    backward_records = True  # a solve with aᵀ (recorded: this op again) and products
    array_api = True

    def forward(self, a, b):
        _square(self, a)
        try:
            out = _standard_solve(a, b) if is_foreign(a) or is_foreign(b) else np.linalg.solve(a, b)
        except np.linalg.LinAlgError as exc:
            raise ShapeError(f"solve: the matrix is singular ({exc})") from None
        except ValueError as exc:
            raise ShapeError(f"solve: cannot solve {shape_of(a)} against {shape_of(b)}: {exc}") from None
        self.saved = (a, out)
        return out

    def backward(self, upstream):
        need, (a, out) = self.needs_input_grad, self.saved
        vector = out.ndim == 1
        gb = _solve(_swap_last(a), upstream)
        da = None
        if need[0]:
            g2 = reshaped(gb, tuple(gb.shape) + (1,)) if vector else gb
            y2 = reshaped(out, (1,) + tuple(out.shape)) if vector else _swap_last(out)
            da = unbroadcast(-(g2 @ y2), tuple(a.shape))
        return da, (gb if need[1] else None)

    def written(self, n, y, a, b):
        gb = lambda U: n.call("solve", n.T(a), U)  # noqa: E731
        return Written(n.call("solve", a, b), (Chain(None, lambda U: n.neg(n.matmul(gb(U), n.T(y)))), Chain(None, gb)))


class Cholesky(Op):
    """L = cholesky(x), x = L Lᵀ with L lower triangular;  dL/dx = ½ (S + Sᵀ), S = L⁻ᵀ Φ(Lᵀ U) L⁻¹, Φ taking
    the lower triangle with its diagonal halved (Murray 2016; HIPS autograd's formula).

    Shapes: x (..., n, n) symmetric positive definite -> L (..., n, n).
    """

    arity = 1
    fresh_grads = True
    functions = ("cholesky",)
    saves = ("out",)
    backward_records = True  # products, masks and solves: the same on Tensors
    array_api = True

    def forward(self, x):
        out = _factor(self, x, np.linalg.cholesky, "the matrix is not positive definite")
        self.saved = (out,)
        return out

    def backward(self, upstream):
        (L,) = self.saved
        n = L.shape[-1]
        phi = (np.tril(np.ones((n, n))) / (1 + np.eye(n))).astype(numpy_dtype(upstream.dtype))  # Φ as a mask
        phi = like(phi, upstream)  # on the upstream's device (a Tensor's, in a recorded backward)
        P = (_swap_last(L) @ upstream) * phi
        Lt = _swap_last(L)
        S = _solve(Lt, _swap_last(_solve(Lt, _swap_last(P))))  # L⁻ᵀ P L⁻¹
        return ((S + _swap_last(S)) * 0.5,)

    def written(self, n, y, x):
        return Written(n.call("cholesky", x), (None,))
