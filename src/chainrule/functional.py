"""The Tensor operations as functions, named as in NumPy: ``chainrule.exp(t)``,
``chainrule.matmul(a, b)``, ``chainrule.sum(t, axis=0)``, ``chainrule.concatenate([a, b])``, ...

Each accepts Tensors, arrays or Python numbers and returns a Tensor. The functions
are not written here one by one: every op declares its names (``Op.functions``) next
to its forward and backward, and this module makes one function per name. An op of
``arity`` k takes its k inputs first, then its constructor's parameters; an op that
takes any number of inputs (concatenate, stack) takes them as one sequence.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .ops.base import REGISTRY, Op
from .tensor import record

_INPUT = inspect.Parameter.POSITIONAL_ONLY  # as NumPy's functions take their arrays


def _function(op_class: type[Op], name: str) -> Callable:
    k = op_class.arity
    if k is None:
        def fn(inputs, *params, **kw):
            return record(op_class(*params, **kw), tuple(inputs))

        inputs = [inspect.Parameter("inputs", _INPUT)]
    else:
        def fn(*args, **kw):
            return record(op_class(*args[k:], **kw), args[:k])

        # the forward's own parameter names: a, b; x; cond, a, b
        inputs = list(inspect.signature(op_class.forward).parameters.values())[1:k + 1]
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = op_class.__doc__
    fn.__signature__ = inspect.Signature([p.replace(kind=_INPUT) for p in inputs] + op_class.constructor_params())
    return fn


def functions() -> dict[str, Callable]:
    """Every function the registered ops declare, by name."""
    return {name: _function(op_class, name) for op_class in REGISTRY.values() for name in op_class.functions}


_FUNCTIONS = functions()
globals().update(_FUNCTIONS)
__all__ = sorted(_FUNCTIONS)


# -- functions in NumPy's order of arguments, or of several results, built on the blocks --------------


def einsum(subscripts: str, *operands):
    """``numpy.einsum(subscripts, *operands)`` on Tensors (the :class:`~chainrule.ops.Einsum` block)."""
    from .ops.linalg import Einsum

    return record(Einsum(subscripts), operands)


def slogdet(x):
    """(sign, log |det x|) as ``numpy.linalg.slogdet``: the sign an array (it has no gradient), the
    logarithm a Tensor (the :class:`~chainrule.ops.LogAbsDet` block)."""
    import numpy as np

    from .tensor import values_of

    return np.linalg.slogdet(values_of(x))[0], _FUNCTIONS["logabsdet"](x)


def tensordot(a, b, axes=2):
    """``numpy.tensordot``: the sum over the last ``axes`` axes of ``a`` and the first of ``b`` (or the
    two lists of axes given), as an :class:`~chainrule.ops.Einsum` block."""
    import numpy as np

    na, nb = np.ndim(getattr(a, "_data", a)), np.ndim(getattr(b, "_data", b))
    if isinstance(axes, int):
        axes = (list(range(na - axes, na)), list(range(axes)))
    ax_a, ax_b = ([x % na for x in np.atleast_1d(axes[0])], [x % nb for x in np.atleast_1d(axes[1])])
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(ax_a, ax_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in ax_a] + [c for j, c in enumerate(sb) if j not in ax_b]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def split(x, indices_or_sections, axis: int = 0) -> list:
    """``numpy.split``: pieces of ``x`` along ``axis``, each a slice of it in the graph (a GetItem block)."""
    import numpy as np

    n = np.shape(getattr(x, "_data", x))[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(f"split: {n} elements along axis {axis} do not split into {indices_or_sections} "
                             f"equal pieces (array_split or chunk gives unequal ones)")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step)) if step else [0] * (indices_or_sections + 1)
    else:
        bounds = [0, *indices_or_sections, n]
    before = (slice(None),) * (axis % np.ndim(getattr(x, "_data", x)))
    return [x[before + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:])]


def chunk(x, chunks: int, axis: int = 0) -> list:
    """``torch.chunk``: at most ``chunks`` pieces along ``axis``, of ceil(n / chunks) elements (the last smaller)."""
    import numpy as np

    n = np.shape(getattr(x, "_data", x))[axis]
    size = -(-n // chunks) if n else 0
    bounds = list(range(size, n, size)) if size else []
    return split(x, bounds, axis)


def atleast_2d(x):
    """``numpy.atleast_2d``: a scalar as (1, 1), a vector (n,) as (1, n); others as they are (a Reshape block)."""
    import numpy as np

    shape = np.shape(getattr(x, "_data", x))
    if len(shape) >= 2:
        return x
    return _FUNCTIONS["reshape"](x, (1, 1) if not shape else (1, shape[0]))


def _along(indices, axis: int, shape: tuple) -> tuple:
    """The index that picks ``indices`` along ``axis`` and every position along the others (broadcast)."""
    import numpy as np

    indices = np.asarray(indices)
    if indices.ndim != len(shape):
        raise ValueError(f"take_along_axis: indices of {indices.ndim} dimensions for an array of {len(shape)}")
    axis %= len(shape)
    grids = list(np.ix_(*[np.arange(n) for n in shape]))
    grids[axis] = indices
    return tuple(grids)


def take_along_axis(x, indices, axis: int):
    """``numpy.take_along_axis``: the values of ``x`` at ``indices`` along ``axis`` (a GetItem block: the
    gradient goes back to the chosen elements, summed where one is chosen twice)."""
    import numpy as np

    shape = np.shape(getattr(x, "_data", x))
    return x[_along(indices, axis, shape)]


def argmax(x, axis=None):
    """Where the largest values are (``numpy.argmax``): integers, outside the graph (no gradient)."""
    import numpy as np

    from .tensor import Tensor, values_of

    return Tensor(np.argmax(values_of(x), axis=axis))


def argmin(x, axis=None):
    """Where the smallest values are (``numpy.argmin``): integers, outside the graph (no gradient)."""
    import numpy as np

    from .tensor import Tensor, values_of

    return Tensor(np.argmin(values_of(x), axis=axis))


def sort(x, axis: int = -1, descending: bool = False):
    """The values of ``x`` sorted along ``axis`` (a stable sort); the gradient goes to the elements where each
    sorted value came from (:func:`take_along_axis` with the sorting order)."""
    import numpy as np

    from .tensor import values_of

    v = values_of(x)
    order = np.argsort(-v if descending else v, axis=axis, kind="stable")
    return take_along_axis(x, order, axis)


def topk(x, k: int, axis: int = -1, largest: bool = True):
    """(values, indices) of the ``k`` largest (or smallest) elements along ``axis``, largest first, as
    ``torch.topk``; the values carry the gradient to the chosen elements, the indices are integers."""
    import numpy as np

    from .tensor import Tensor, values_of

    v = values_of(x)
    n = np.shape(v)[axis]
    if not 0 <= k <= n:
        raise ValueError(f"topk: k must be between 0 and {n} (the size of axis {axis}), got {k}")
    order = np.argsort(-v if largest else v, axis=axis, kind="stable")
    chosen = np.take(order, np.arange(k), axis=axis)
    return take_along_axis(x, chosen, axis), Tensor(chosen)


_COMPOSITES = ["einsum", "slogdet", "tensordot", "split", "chunk", "atleast_2d", "take_along_axis", "argmax",
               "argmin", "sort", "topk"]
__all__ = sorted([*_FUNCTIONS, *_COMPOSITES])
