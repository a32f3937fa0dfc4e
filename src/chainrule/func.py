"""Derivatives of functions, as functions: ``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp``.

The names and meanings are those of ``torch.func`` and ``torch.autograd.functional``.
Each takes a Python function of Tensors and the point to differentiate it at; the
point may be one Tensor (or array), a tuple of them (a function of several inputs),
or a dict of them (a model's parameters, with :func:`functional_call`)::

    H = cr.func.hessian(lambda theta: ((X @ theta - Y) ** 2).sum(), theta)   # 2 XᵀX

    params = dict(model.named_parameters())
    def loss_at(p):
        return loss_fn(cr.func.functional_call(model, p, (X,)), Y)
    loss, Hv = cr.func.hvp(loss_at, params, v)                             # dicts in, dicts out

Everything rests on the recorded backward pass (``chainrule.grad(...,
create_graph=True)``): a Jacobian is one backward pass per output element, a Hessian
the Jacobian of the gradient, a Hessian-vector product two backward passes, and a
Jacobian-vector product the "double vjp": the gradient of ``Jᵀu`` with respect to a
dummy ``u``, which is ``Jv``. Results are Tensors outside the graph (unless
``create_graph=True``), shaped as ``torch.autograd.functional``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np

from .autograd import grad
from .errors import GraphError, ShapeError
from .grad_mode import enable_grad
from .tensor import Tensor, values_of

__all__ = ["vjp", "jvp", "jacobian", "jacrev", "hessian", "hvp", "vhp", "functional_call"]


# -- the point: one Tensor, a tuple of them, or a dict ----------------------------------


class _Point:
    """The inputs a function is differentiated at, as fresh leaves that require grad, and how to
    give results back in the caller's structure (one value, a tuple, a dict)."""

    def __init__(self, what: str, inputs: Any, create_graph: bool = False, keep: bool = False):
        self.what = what
        if isinstance(inputs, dict):
            self.keys, values, self.kind = list(inputs), list(inputs.values()), "dict"
        elif isinstance(inputs, (tuple, list)):
            self.keys, values, self.kind = None, list(inputs), "tuple"
        else:
            self.keys, values, self.kind = None, [inputs], "one"
        self.leaves = [self._leaf(i, x, create_graph or keep) for i, x in enumerate(values)]

    def _leaf(self, i: int, x: Any, keep: bool) -> Tensor:
        if isinstance(x, Tensor) and keep and x.requires_grad:
            return x  # kept in the caller's graph, so that the result can be differentiated there too
        data = np.asarray(values_of(x))
        if data.dtype.kind != "f":
            name = f"input {self.keys[i]!r}" if self.keys else f"input {i}"
            raise GraphError(f"{self.what}: {name} has dtype {data.dtype}; only floating-point inputs "
                             f"can be differentiated (convert it, e.g. with .astype('float64'))")
        return Tensor(data, requires_grad=True)

    def call(self, func: Callable) -> Any:
        """``func`` at the point: called with the leaves as the caller gave them."""
        with enable_grad():
            if self.kind == "dict":
                return func(dict(zip(self.keys, self.leaves)))
            return func(*self.leaves)

    def shaped(self, values: list) -> Any:
        """One value per input, in the caller's structure."""
        if self.kind == "dict":
            return dict(zip(self.keys, values))
        return tuple(values) if self.kind == "tuple" else values[0]


def _outputs(what: str, out: Any) -> tuple[list[Tensor], bool]:
    """A function's result as a list of Tensors, and whether it was a tuple."""
    many = isinstance(out, (tuple, list))
    outs = list(out) if many else [out]
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"{what}: the function must return a Tensor (or a tuple of them), "
                            f"got {type(o).__name__}" + (f" as output {i}" if many else ""))
    return outs, many


def _as_tensor(x: Any, like: Tensor, what: str) -> Any:
    """A vector given with a point or an output (a tangent, a cotangent), checked against it."""
    if isinstance(x, Tensor):
        value = x
    else:
        value = Tensor(np.asarray(x, dtype=like.dtype))
    if value.shape != like.shape:
        raise ShapeError(f"{what} of shape {value.shape} given for a value of shape {like.shape}")
    return value


def _vectors(point: _Point, v: Any, what: str) -> list:
    """``v`` (a tangent for every input) in the point's order."""
    if point.kind == "dict":
        if not isinstance(v, dict) or set(v) != set(point.keys):
            raise ShapeError(f"{what}: give one vector per input, as a dict with the keys {point.keys}")
        values = [v[k] for k in point.keys]
    elif point.kind == "tuple":
        values = list(v) if isinstance(v, (tuple, list)) else [v]
    else:
        values = [v]
    if len(values) != len(point.leaves):
        raise ShapeError(f"{what}: {len(values)} vectors given for {len(point.leaves)} inputs")
    return [_as_tensor(x, leaf, what) for x, leaf in zip(values, point.leaves)]


def _detached(g: Any, like: Tensor, create_graph: bool) -> Tensor:
    """A result as a Tensor: zeros for None (an input the output does not depend on)."""
    if g is None:
        return Tensor(np.zeros(like.shape, like.dtype))
    if create_graph:
        return g if isinstance(g, Tensor) else Tensor(g)
    return Tensor(np.array(values_of(g)))


# -- vjp, jvp --------------------------------------------------------------------------


def vjp(func: Callable, *primals: Any, has_aux: bool = False):
    """``(func(*primals), vjp_fn)``, where ``vjp_fn(cotangent)`` is uᵀJ: one Tensor per primal.

    As ``torch.func.vjp``. ``func`` may return a tuple of Tensors (``vjp_fn`` then takes a tuple
    of cotangents); with ``has_aux`` it returns ``(output, aux)`` and this returns
    ``(output, vjp_fn, aux)``. ``vjp_fn`` can be called many times (the graph is kept). One dict
    of Tensors as the primal (a model's parameters) gives ``(dict,)``, as torch.func does.
    """
    one_dict = len(primals) == 1 and isinstance(primals[0], dict)  # a model's parameters, by name
    # the caller's Tensors that require grad are kept: vjp_fn(..., create_graph=True) is then differentiable
    # with respect to them, as torch.func's is
    point = _Point("vjp", primals[0] if one_dict else primals, keep=True)
    result = point.call(func)
    aux = None
    if has_aux:
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError("vjp: with has_aux=True the function must return (output, aux)")
        result, aux = result
    outs, many = _outputs("vjp", result)

    def vjp_fn(cotangents, create_graph: bool = False) -> tuple:
        given = list(cotangents) if many else [cotangents]
        if len(given) != len(outs):
            raise ShapeError(f"vjp: {len(given)} cotangents given for {len(outs)} outputs")
        live = [(o, _as_tensor(u, o, "vjp: cotangent")) for o, u in zip(outs, given) if o.requires_grad]
        grads = [None] * len(point.leaves)
        if live:
            grads = grad([o for o, _ in live], point.leaves, [u for _, u in live], retain_graph=True,
                         create_graph=create_graph, allow_unused=True)
        cotangent = [_detached(g, x, create_graph) for g, x in zip(grads, point.leaves)]
        return (point.shaped(cotangent),) if one_dict else tuple(cotangent)

    out = tuple(o.detach() for o in outs) if many else outs[0].detach()
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jvp(func: Callable, primals: Any, tangents: Any, create_graph: bool = False):
    """``(func(*primals), J v)``: the derivative of ``func`` at ``primals`` in the direction ``tangents``.

    As ``torch.func.jvp`` (and ``torch.autograd.functional.jvp``): ``primals`` and ``tangents``
    are tuples (or one Tensor each). Computed by the double-vjp trick: ``g(u) = Jᵀu`` is
    linear in a dummy cotangent ``u``, so the gradient of ``<g(u), v>`` with respect to ``u``
    is ``J v`` (two backward passes, the first one recorded).
    """
    point = _Point("jvp", primals, create_graph)
    vs = _vectors(point, tangents, "jvp: tangent")
    outs, many = _outputs("jvp", point.call(func))
    results = []
    for o in outs:
        if not o.requires_grad:  # a constant of the inputs: its derivative is 0
            results.append(Tensor(np.zeros(o.shape, o.dtype)))
            continue
        u = Tensor(np.zeros(o.shape, o.dtype), requires_grad=True)
        gs = grad(o, point.leaves, grad_outputs=u, create_graph=True, allow_unused=True)
        terms = [(g * v).sum() for g, v in zip(gs, vs) if g is not None and g.requires_grad]
        if not terms:
            results.append(Tensor(np.zeros(o.shape, o.dtype)))
            continue
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        (jv,) = grad(total, u, create_graph=create_graph, allow_unused=True)
        results.append(_detached(jv, o, create_graph))
    out = tuple(o.detach() for o in outs) if many else outs[0].detach()
    return out, (tuple(results) if many else results[0])


# -- jacobian, hessian -----------------------------------------------------------------


def _jacobian_rows(outs: list[Tensor], leaves: list[Tensor], create_graph: bool) -> list[list[Tensor]]:
    """J[k][i]: the Jacobian of output k with respect to input i, shaped out_k.shape + x_i.shape,
    one backward pass per element of each output."""
    table = []
    for o in outs:
        rows = [[] for _ in leaves]
        if o.requires_grad:
            for k in range(o.size):
                e = np.zeros(o.size, o.dtype)
                e[k] = 1
                gs = grad(o, leaves, grad_outputs=e.reshape(o.shape), retain_graph=True,
                          create_graph=create_graph, allow_unused=True)
                for i, (g, x) in enumerate(zip(gs, leaves)):
                    rows[i].append(_detached(g, x, create_graph))
        blocks = []
        for i, x in enumerate(leaves):
            if not rows[i]:  # an empty output, or one that does not depend on the inputs
                blocks.append(Tensor(np.zeros(o.shape + x.shape, np.result_type(o.dtype, x.dtype))))
            elif create_graph:
                from .functional import stack

                blocks.append(stack(rows[i]).reshape(o.shape + x.shape))
            else:
                blocks.append(Tensor(np.stack([values_of(r) for r in rows[i]]).reshape(o.shape + x.shape)))
        table.append(blocks)
    return table


def _shaped_table(point: _Point, table: list[list[Tensor]], many_outputs: bool) -> Any:
    """The Jacobian blocks in ``torch.autograd.functional.jacobian``'s structure: a Tensor for one
    output and one input, a tuple over the inputs or the outputs, or a tuple of tuples [out][in]
    (dicts where the point was a dict)."""
    per_output = [point.shaped(blocks) for blocks in table]
    return tuple(per_output) if many_outputs else per_output[0]


def jacobian(func: Callable, inputs: Any = None, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, *, argnums: int | tuple[int, ...] = 0):
    """The Jacobian of ``func`` at ``inputs``: ``J[i..., j...] = d out[i...] / d x[j...]``.

    As ``torch.autograd.functional.jacobian``: for one input and one output a Tensor of shape
    ``out.shape + x.shape``; a tuple over the inputs for several inputs, over the outputs for
    several outputs, or a tuple (over outputs) of tuples (over inputs). ``strict`` raises when an
    output does not depend on an input (otherwise its block is zeros). ``vectorize`` is accepted
    and ignored (one backward pass per output element, always).

    Called as ``jacobian(func)``, without inputs, it returns the function ``x -> J`` (as
    ``torch.func.jacrev``), differentiating with respect to argument ``argnums``.
    """
    if inputs is None:
        return jacrev(func, argnums)
    point = _Point("jacobian", inputs, create_graph)
    outs, many = _outputs("jacobian", point.call(func))
    if strict:
        _check_strict("jacobian", outs, point)
    return _shaped_table(point, _jacobian_rows(outs, point.leaves, create_graph), many)


def _check_strict(what: str, outs: list[Tensor], point: _Point) -> None:
    for k, o in enumerate(outs):
        if not o.requires_grad:
            raise GraphError(f"{what}: output {k} does not depend on the inputs (strict=True)")
        gs = grad(o.sum(), point.leaves, retain_graph=True, allow_unused=True)
        for i, g in enumerate(gs):
            if g is None:
                raise GraphError(f"{what}: output {k} does not depend on input {i} (strict=True)")


def _of_arguments(func: Callable, args: tuple, argnums: int | tuple[int, ...]) -> tuple[Callable, Any]:
    """``func`` as a function of the arguments ``argnums`` only (the others fixed at ``args``), and
    those arguments: one, or a tuple of them when ``argnums`` is a tuple (as torch.func takes it)."""
    args = list(args)
    many = isinstance(argnums, tuple)
    positions = [a % len(args) for a in (argnums if many else (argnums,))]

    def of_chosen(*chosen):
        full = list(args)
        for p, x in zip(positions, chosen):
            full[p] = x
        return func(*full)

    chosen = tuple(args[p] for p in positions)
    return of_chosen, (chosen if many else chosen[0])


def jacrev(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The function ``(*args) -> jacobian of func with respect to args[argnums]`` (``torch.func.jacrev``;
    a tuple ``argnums`` gives a tuple of Jacobians)."""

    def jacobian_of(*args):
        of_chosen, point = _of_arguments(func, args, argnums)
        return jacobian(of_chosen, point)

    return jacobian_of


def _scalar(what: str, out: Any) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"{what}: the function must return a one-element Tensor, got {type(out).__name__}")
    if out.size != 1:
        raise ShapeError(f"{what}: the function must return a one-element Tensor (a loss), got shape {out.shape}")
    return out


def hessian(func: Callable, inputs: Any = None, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, *, argnums: int | tuple[int, ...] = 0):
    """The Hessian of the scalar function ``func`` at ``inputs``: ``H[i..., j...] = d² f / dx[i...] dx[j...]``.

    As ``torch.autograd.functional.hessian``: for one input a Tensor of shape
    ``x.shape + x.shape``; for several inputs a tuple of tuples, ``H[i][j]`` of shape
    ``x_i.shape + x_j.shape`` (dicts of dicts for a dict of inputs). It is the Jacobian of the
    gradient, which is computed with ``create_graph=True``: one recorded backward pass, then
    one backward pass per element of the inputs.

    Called as ``hessian(func)``, it returns the function ``x -> H`` (as ``torch.func.hessian``).
    """
    if inputs is None:
        def hessian_of(*args):
            of_chosen, point = _of_arguments(func, args, argnums)
            return hessian(of_chosen, point)

        return hessian_of
    point = _Point("hessian", inputs, create_graph)
    out = _scalar("hessian", point.call(func))
    if strict:
        _check_strict("hessian", [out], point)
    if not out.requires_grad:
        gs = [None] * len(point.leaves)
    else:
        gs = grad(out, point.leaves, create_graph=True, allow_unused=True)
    if strict:
        for i, g in enumerate(gs):
            if g is not None and not g.requires_grad:
                raise GraphError(f"hessian: the gradient with respect to input {i} does not depend on the inputs "
                                 f"(the function is linear in it): its Hessian blocks are 0 (strict=True)")
    table = _jacobian_rows([g if g is not None else Tensor(np.zeros(x.shape, x.dtype))
                            for g, x in zip(gs, point.leaves)], point.leaves, create_graph)
    return point.shaped([point.shaped(blocks) for blocks in table])


def hvp(func: Callable, inputs: Any, v: Any, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)``: a Hessian-vector product, without forming the Hessian.

    As ``torch.autograd.functional.hvp``: ``v`` has the structure of ``inputs``; so does the
    product. Two backward passes: the gradient, recorded, then the gradient of ``<grad, v>``.
    """
    point = _Point("hvp", inputs, create_graph)
    vs = _vectors(point, v, "hvp: v")
    out = _scalar("hvp", point.call(func))
    if strict:
        _check_strict("hvp", [out], point)
    results = [None] * len(point.leaves)
    if out.requires_grad:
        gs = grad(out, point.leaves, create_graph=True, allow_unused=True)
        live = [(g, u) for g, u in zip(gs, vs) if g is not None and g.requires_grad]
        if live:
            results = grad([g for g, _ in live], point.leaves, [u for _, u in live],
                           create_graph=create_graph, allow_unused=True)
    products = [_detached(r, x, create_graph) for r, x in zip(results, point.leaves)]
    return (out if create_graph else out.detach()), point.shaped(products)


def vhp(func: Callable, inputs: Any, v: Any, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), vᵀ H)`` (``torch.autograd.functional.vhp``): for a twice continuously
    differentiable ``func`` the Hessian is symmetric and this equals :func:`hvp`."""
    return hvp(func, inputs, v, create_graph, strict)


# -- a model's parameters as inputs ----------------------------------------------------


@contextmanager
def _swapped(module, parameters: dict):
    """The module's parameters replaced, by name (``"0.weight"``), by the given Tensors, for a while."""
    owners = dict(module.named_modules())
    swapped = []
    try:
        for name, value in parameters.items():
            prefix, _, leaf = name.rpartition(".")
            owner = owners.get(prefix)
            if owner is None or leaf not in owner._parameters:
                raise KeyError(f"functional_call: {type(module).__name__} has no parameter named {name!r}")
            swapped.append((owner, leaf, owner.__dict__.get(leaf)))
            object.__setattr__(owner, leaf, value)  # read by forward as self.<leaf>; the registry stays
        yield
    finally:
        for owner, leaf, old in reversed(swapped):
            object.__setattr__(owner, leaf, old)


def functional_call(module, parameters: dict, args: Any = (), kwargs: dict | None = None):
    """``module(*args, **kwargs)`` computed with ``parameters`` (a dict by name, as
    ``module.named_parameters()``) in place of the module's own, as ``torch.func.functional_call``.

    With it, a model's loss is a function of its parameters that :func:`hessian`, :func:`hvp`,
    :func:`jacobian` take: ``hvp(lambda p: loss(functional_call(model, p, (X,)), Y), params, v)``.
    """
    if not isinstance(args, tuple):
        args = (args,)
    with _swapped(module, parameters):
        return module(*args, **(kwargs or {}))
