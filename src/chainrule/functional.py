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
