"""The checks of every exercise, run on a learner's imported module (inside the isolated runner).

A block is checked the same way in every exercise (:func:`check_block`): that it exists, its
forward against chainrule's own op, its backward against that op and against finite differences
of the learner's own forward, the shapes and the dtype of what it returns, that backward leaves
its upstream argument as it was, and that two instances keep two caches. Each failure names the
block, the input and the element, expected against got, and, where the wrong answer is one that
learners often give, a hint in the lecture's words (keys of :data:`chainrule.exercise.messages.HINTS`).
The exercises' other checks (training, the graph's order, gradients summed over paths) follow.
Every check returns :class:`Result` values; nothing here prints.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ops


@dataclass
class Result:
    """One check: ``check`` (what, e.g. ``Square.backward``), ``kind`` (a key of the messages: forward,
    backward, finite_differences, shape, dtype, upstream, cache, ...), passed or not, and for a failure
    the ``detail`` (input, index, expected, got), a ``hint`` key with its fields, or the ``error`` raised."""

    check: str
    kind: str
    passed: bool
    detail: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None
    hint_fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    label: tuple[str, dict[str, Any]] | None = None  # a name to translate (a key of NAMES and its fields)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "kind": self.kind, "passed": self.passed, "detail": self.detail,
                "hint": self.hint, "hint_fields": self.hint_fields, "error": self.error,
                "label": list(self.label) if self.label else None}


class WrongReturn(TypeError):
    """backward returned something else than one gradient per input: reported with the hint ``return_tuple``."""

    def __init__(self, n: int, got: str):
        super().__init__(f"backward must return {n} gradient(s), one per input; it returned {got}")
        self.fields = {"n": n, "got": got}


def _learner_frame(exc: BaseException):
    """The last frame of the traceback in the learner's own files (not chainrule, not an installed package)."""
    import os
    import sysconfig

    skip = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    skip += [os.path.abspath(p) for p in {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")}]
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not any(os.path.abspath(f.filename).startswith(p) for p in skip)]
    return frames[-1] if frames else None


def _error_text(exc: BaseException) -> str:
    """The exception as one line, with the learner's file and line where it was raised."""
    import os

    frame = _learner_frame(exc)
    where = f" ({os.path.basename(frame.filename)}, line {frame.lineno}: {frame.line})" if frame and frame.line else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"[:500]


def _failure(check: str, kind: str, exc: BaseException, label: tuple[str, dict[str, Any]] | None = None) -> Result:
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        raise exc  # the output limit: the whole run ends as "printed too much", not as one block's failure
    if isinstance(exc, NotImplementedError):
        return Result(check, kind, False, hint="todo", error=_error_text(exc), label=label)
    if isinstance(exc, WrongReturn):
        return Result(check, kind, False, hint="return_tuple", hint_fields=exc.fields, error=_error_text(exc),
                      label=label)
    return Result(check, kind, False, error=_error_text(exc), label=label)


def _as_grads(value: Any, n: int) -> list[Any]:
    """backward's return as a list of n gradients (a lone array is accepted for a one-input block)."""
    if n == 1 and not isinstance(value, (tuple, list)):
        return [value]
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise WrongReturn(n, type(value).__name__ if not isinstance(value, (tuple, list)) else f"{len(value)}")
    return list(value)


def _numbers(value: Any) -> np.ndarray | None:
    """``value`` as float64 numbers, or None when it is not numbers (a tuple of an array and a cache, text)."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _compare(expected: np.ndarray, got: Any, rtol: float, atol: float) -> dict[str, Any] | None:
    """None when ``got`` equals ``expected`` to the tolerance, else where and how it differs."""
    got_arr = _numbers(got) if got is not None else None
    if got is not None and got_arr is None:
        return {"problem": "not_numbers", "got_type": type(got).__name__}
    expected = np.asarray(expected, dtype=np.float64)
    if got_arr is None or got_arr.shape != expected.shape:
        return {"problem": "shape", "expected_shape": list(expected.shape),
                "got_shape": None if got_arr is None else list(got_arr.shape)}
    bad = ~np.isclose(got_arr, expected, rtol=rtol, atol=atol, equal_nan=False)
    if not bad.any():
        return None
    err = np.where(bad, np.abs(got_arr - expected), -1.0)
    err = np.where(np.isnan(err), np.inf, err)
    index = np.unravel_index(int(np.argmax(err)), expected.shape) if expected.ndim else ()
    return {"problem": "values", "index": [int(i) for i in index], "expected": float(expected[index]),
            "got": float(got_arr[index]), "count": int(bad.sum()), "size": int(bad.size)}


@dataclass
class BlockSpec:
    """How to check one block: the reference op of chainrule, inputs to try (a function of a Generator
    and a dtype), which inputs get gradients, and the wrong answers learners give, each a hint key with
    a function (inputs, upstream, expected gradients) -> the wrong gradients."""

    name: str
    reference: Callable[[], ops.Op]
    inputs: Callable[[np.random.Generator, Any], list[Any]]
    differentiable: tuple[bool, ...]
    input_names: tuple[str, ...]
    mistakes: Sequence[tuple[str, Callable[..., list[Any]]]] = ()
    rtol: float = 1e-7
    atol: float = 1e-9


def _reference(spec: BlockSpec, inputs: list[Any], upstream: Any) -> tuple[np.ndarray, list[Any]]:
    op = spec.reference()
    out = np.asarray(op.forward(*inputs))
    grads = list(op.backward(np.asarray(upstream, dtype=out.dtype)))
    return out, [np.asarray(g) if d and g is not None else None for g, d in zip(grads, spec.differentiable)]


def _upstream(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    return (rng.standard_normal(shape) + 0.5).astype(dtype)


def _recognise(spec: BlockSpec, k: int, got: Any, inputs, upstream, expected) -> tuple[str | None, dict]:
    """The hint for a wrong gradient of input k: a known mistake it equals, or a generic one."""
    got_arr = _numbers(got) if got is not None else None
    want = np.asarray(expected[k], dtype=np.float64)
    fields = {"block": spec.name, "input": spec.input_names[k]}
    if got is None:
        return "missing_gradient", fields
    if got_arr is None:
        return "not_numbers", fields
    if got_arr.shape != want.shape:
        return "gradient_shape", {**fields, "shape": tuple(want.shape), "got_shape": tuple(got_arr.shape)}
    for key, wrong in spec.mistakes:
        candidates = wrong(inputs, upstream, expected)
        cand = candidates[k] if k < len(candidates) else None
        if cand is not None and np.shape(cand) == want.shape and np.allclose(got_arr, cand, rtol=1e-6, atol=1e-9):
            return key, fields
    local_only = _reference(spec, inputs, np.ones_like(upstream))[1][k]
    if local_only is not None and not np.allclose(upstream, 1) and np.allclose(got_arr, local_only, rtol=1e-6,
                                                                                 atol=1e-9):
        return "times_upstream", fields
    if np.allclose(got_arr, -want, rtol=1e-6, atol=1e-9) and np.abs(want).max(initial=0) > 0:
        return "sign", fields
    return None, fields


def check_block(module: Any, spec: BlockSpec, seed: int = 0) -> list[Result]:
    """Every check of one block class ``spec.name`` of the learner's ``module``."""
    name = spec.name
    cls = getattr(module, name, None)
    if cls is None or not callable(cls):
        return [Result(name, "exists", False, hint="define_class", hint_fields={"block": name})]
    results: list[Result] = [Result(name, "exists", True)]
    rng = np.random.default_rng(seed)
    inputs = spec.inputs(rng, np.float64)
    shapes = ", ".join(f"{n} {tuple(np.shape(x))}" for n, x in zip(spec.input_names, inputs))
    # forward
    want_out, _ = _reference(spec, inputs, np.ones(np.shape(spec.reference().forward(*inputs))))
    try:
        block = cls()
        out = block.forward(*[np.array(x, copy=True) for x in inputs])
    except Exception as exc:  # noqa: BLE001 - any error of the learner's code is a failed check, with its text
        return [*results, _failure(f"{name}.forward", "forward", exc)]
    diff = _compare(want_out, out, spec.rtol, spec.atol)
    hint = {"shape": "output_shape", "not_numbers": "output_not_numbers"}.get(diff["problem"]) if diff else None
    results.append(Result(f"{name}.forward", "forward", diff is None, {"input": shapes, **diff} if diff else {},
                          hint=hint, hint_fields={"block": name, "shape": tuple(want_out.shape)}))
    # backward against chainrule's block, with a random upstream
    upstream = _upstream(rng, want_out.shape, np.float64)
    kept = upstream.copy()
    n = len(spec.differentiable)
    try:
        grads = _as_grads(block.backward(upstream), n)
    except Exception as exc:  # noqa: BLE001
        results.append(_failure(f"{name}.backward", "backward", exc))
        return results
    _, expected = _reference(spec, inputs, kept)
    for k in range(n):
        if not spec.differentiable[k]:
            continue
        diff = _compare(expected[k], grads[k], spec.rtol, spec.atol)
        hint, fields = _recognise(spec, k, grads[k], inputs, kept, expected) if diff else (None, {})
        results.append(Result(f"{name}.backward({spec.input_names[k]})", "backward", diff is None,
                              {"input": shapes, "gradient_of": spec.input_names[k], **(diff or {})} if diff else {},
                              hint=hint, hint_fields=fields))
    unchanged = bool(np.array_equal(upstream, kept))
    results.append(Result(f"{name}.backward", "upstream", unchanged, {} if unchanged else {"input": shapes},
                          hint=None if unchanged else "upstream_changed", hint_fields={"block": name}))
    results.append(_finite_differences(cls, spec, inputs, kept, grads, shapes))
    if spec.differentiable.count(True) == 2 and len({np.shape(x) for x in inputs}) == 1:
        results.append(_one_value_on_two_paths(cls, spec, rng))
    results.append(_two_caches(cls, spec, rng))
    results.append(_dtype(cls, spec, rng))
    return results


def _finite_differences(cls, spec: BlockSpec, inputs, upstream, grads, shapes: str) -> Result:
    """backward against central differences of the learner's own forward (float64, eps 1e-6)."""
    name = f"{spec.name}.backward"

    def value(args) -> float:
        return float(np.sum(np.asarray(cls().forward(*args), dtype=np.float64) * upstream))

    try:
        for k, differentiable in enumerate(spec.differentiable):
            if not differentiable:
                continue
            x = np.array(inputs[k], dtype=np.float64)
            numeric = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                args = [np.array(a, copy=True) for a in inputs]
                args[k] = x.copy()
                args[k][i] += 1e-6
                up = value(args)
                args[k][i] -= 2e-6
                numeric[i] = (up - value(args)) / 2e-6
            diff = _compare(numeric, grads[k], 1e-4, 1e-6)
            if diff:
                return Result(name, "finite_differences", False,
                              {"input": shapes, "gradient_of": spec.input_names[k], **diff},
                              hint="finite_differences", hint_fields={"block": spec.name})
    except Exception as exc:  # noqa: BLE001
        return _failure(name, "finite_differences", exc)
    return Result(name, "finite_differences", True)


def _one_value_on_two_paths(cls, spec: BlockSpec, rng: np.random.Generator) -> Result:
    """The same array as both inputs (x − x): the two gradients returned, summed as the graph sums paths,
    must be the derivative of forward(x, x) (central differences)."""
    name = f"{spec.name}.backward"
    x = spec.inputs(rng, np.float64)[0]
    try:
        out = np.asarray(cls().forward(x, x))
        upstream = _upstream(rng, out.shape, np.float64)
        block = cls()
        block.forward(x, x)
        first, second = _as_grads(block.backward(upstream.copy()), 2)[:2]
        total = np.asarray(first, dtype=np.float64) + np.asarray(second, dtype=np.float64)
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[i] += 1e-6
            down[i] -= 1e-6
            numeric[i] = (np.sum(np.asarray(cls().forward(up, up)) * upstream)
                          - np.sum(np.asarray(cls().forward(down, down)) * upstream)) / 2e-6
    except Exception as exc:  # noqa: BLE001
        return _failure(name, "paths", exc)
    diff = _compare(numeric, total, 1e-4, 1e-6)
    return Result(name, "paths", diff is None, {"input": f"{spec.input_names[0]} = {spec.input_names[1]}",
                                                **diff} if diff else {},
                  hint="paths_block" if diff else None, hint_fields={"block": spec.name})


def _grads_of(cls, spec: BlockSpec, inputs, upstream, other=None) -> list[np.ndarray | None]:
    """The learner's gradients for ``inputs``; with ``other``, a second instance runs forward on it between
    the first one's forward and backward."""
    block = cls()
    block.forward(*[np.array(x, copy=True) for x in inputs])
    if other is not None:
        cls().forward(*[np.array(x, copy=True) for x in other])
    grads = _as_grads(block.backward(upstream.copy()), len(spec.differentiable))
    return [_numbers(g) if d else None for g, d in zip(grads, spec.differentiable)]


def _two_caches(cls, spec: BlockSpec, rng: np.random.Generator) -> Result:
    """Two instances, two inputs: the first one's backward gives what it gives alone (its own cache, not the
    second's). Compared with the learner's own result, so a wrong backward is not blamed on the cache."""
    name = f"{spec.name}.cache"
    first, second = spec.inputs(rng, np.float64), spec.inputs(rng, np.float64)
    try:
        out = np.asarray(spec.reference().forward(*first))
        upstream = _upstream(rng, out.shape, np.float64)
        alone = _grads_of(cls, spec, first, upstream)
        beside = _grads_of(cls, spec, first, upstream, other=second)
    except Exception as exc:  # noqa: BLE001
        return _failure(name, "cache", exc)
    for k, (a, b) in enumerate(zip(alone, beside)):
        if a is not None and b is not None and (a.shape != b.shape or not np.allclose(a, b, equal_nan=True)):
            return Result(name, "cache", False, {"gradient_of": spec.input_names[k]}, hint="shared_cache",
                          hint_fields={"block": spec.name})
    return Result(name, "cache", True)


def _dtype(cls, spec: BlockSpec, rng: np.random.Generator) -> Result:
    """float32 in, float32 out: forward's result (an array; a Python float is accepted for a number) and
    backward's gradients keep the inputs' dtype."""
    name = f"{spec.name}.dtype"
    inputs = spec.inputs(rng, np.float32)
    try:
        block = cls()
        out = block.forward(*inputs)
        shape = np.shape(out)
        grads = _as_grads(block.backward(np.ones(shape, np.float32)), len(spec.differentiable))
    except Exception as exc:  # noqa: BLE001
        return _failure(name, "dtype", exc)
    got = [] if isinstance(out, (float, int)) else [str(np.asarray(out).dtype)]
    got += [str(np.asarray(g).dtype) for g, d in zip(grads, spec.differentiable) if d]
    ok = all(d == "float32" for d in got)
    return Result(name, "dtype", ok, {} if ok else {"dtypes": ", ".join(got)}, hint=None if ok else "dtype",
                  hint_fields={"block": spec.name})


# -- the blocks of each exercise --------------------------------------------------------------------


def _floats(*shapes):
    return lambda rng, dtype: [rng.standard_normal(s).astype(dtype) for s in shapes]


def _unary_mistakes(local_wrong: Callable[[np.ndarray], np.ndarray], key: str):
    return [(key, lambda inputs, up, expected: [up * local_wrong(np.asarray(inputs[0], np.float64))])]


LINREG_BLOCKS = [
    BlockSpec("MatMul", ops.MatMul, _floats((5, 3), (3,)), (True, True), ("X", "theta"),
              mistakes=[("matmul_transpose", lambda i, up, e: [None, np.asarray(i[0]).T @ np.ones_like(up)])]),
    BlockSpec("Sub", ops.Sub, _floats((5,), (5,)), (True, True), ("mu", "Y"),
              mistakes=[("sub_minus", lambda i, up, e: [up, up])]),
    BlockSpec("Square", ops.Square, _floats((5,)), (True,), ("delta",),
              mistakes=[("square_2x", lambda i, up, e: [up * np.asarray(i[0])]),
                        ("square_2x", lambda i, up, e: [up * 2.0])]),
    BlockSpec("Sum", ops.Sum, _floats((5,)), (True,), ("s",)),
    BlockSpec("Identity", ops.Identity, _floats((4, 2)), (True,), ("x",)),
]

ACTIVATION_BLOCKS = [
    BlockSpec("ReLU", ops.ReLU, lambda rng, dt: [np.where(np.abs(x := rng.standard_normal((4, 3))) < 0.05, 0.3, x)
                                                 .astype(dt)], (True,), ("x",),
              mistakes=_unary_mistakes(lambda x: np.maximum(x, 0), "relu_local")),
    BlockSpec("Sigmoid", ops.Sigmoid, _floats((4, 3)), (True,), ("x",),
              mistakes=_unary_mistakes(lambda x: 1 / (1 + np.exp(-x)), "sigmoid_local")
              + _unary_mistakes(lambda x: np.exp(-x) / (1 + np.exp(-x)), "sigmoid_local")),
    BlockSpec("Tanh", ops.Tanh, _floats((4, 3)), (True,), ("x",),
              mistakes=_unary_mistakes(lambda x: 1 - np.tanh(x), "tanh_local")
              + _unary_mistakes(lambda x: np.tanh(x), "tanh_local")),
]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


SOFTMAX_BLOCK = BlockSpec(
    "SoftmaxCrossEntropy", ops.SoftmaxCrossEntropy,
    lambda rng, dt: [rng.standard_normal((6, 4)).astype(dt), rng.integers(0, 4, 6)], (True, False),
    ("logits", "labels"),
    mistakes=[("softmax_mean", lambda i, up, e: [np.asarray(e[0]) * len(i[1]), None]),
              ("softmax_onehot", lambda i, up, e: [up * _softmax(np.asarray(i[0], np.float64)) / len(i[1]), None])],
)

LINEAR_BLOCK = BlockSpec(
    "Linear", ops.Linear, _floats((5, 4), (3, 4), (3,)), (True, True, True), ("x", "W", "b"),
    mistakes=[("linear_bias_sum", lambda i, up, e: [None, None, np.asarray(up)])],
)


def check_blocks(module, specs: Sequence[BlockSpec]) -> list[Result]:
    return [r for spec in specs for r in check_block(module, spec)]


def missing(module, names: Sequence[str]) -> list[Result]:
    """An ``exists`` check for each of ``names``: passed where the learner's module defines it."""
    return [Result(name, "exists", True) if callable(getattr(module, name, None)) else
            Result(name, "exists", False, hint="define_class", hint_fields={"block": name}) for name in names]


def _all_there(results: list[Result]) -> bool:
    return all(r.passed for r in results)


def _float(value: Any) -> float | None:
    """A learner's number (a Value's grad, a loss) as a float, or None when it is not one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -- exercise 1: the blocks, then the lecture's chain through them ------------------------------------


def check_exercise_blocks(module) -> list[Result]:
    results = check_blocks(module, LINREG_BLOCKS)
    results.append(_lecture_chain(module))
    return results


def _lecture_chain(module) -> Result:
    """L = ΣΔ² and dL/dθ through the learner's four blocks, against chainrule's lecture (by hand)."""
    from ..lecture import loss_by_hand, make_problem

    X, Y, theta = make_problem(8, 3, seed=4)
    try:
        mm, sub, sq, total = module.MatMul(), module.Sub(), module.Square(), module.Sum()
        L = total.forward(sq.forward(sub.forward(mm.forward(X, theta), Y)))
        (ds,) = _as_grads(total.backward(np.ones_like(np.asarray(L, dtype=np.float64))), 1)
        (dd,) = _as_grads(sq.backward(np.asarray(ds)), 1)
        dmu, _ = _as_grads(sub.backward(np.asarray(dd)), 2)
        _, dtheta = _as_grads(mm.backward(np.asarray(dmu)), 2)
    except Exception as exc:  # noqa: BLE001
        return _failure("chain L = Σ(Xθ − Y)²", "chain", exc)
    want_L, want_grad = loss_by_hand(X, Y, theta)
    diff = _compare(np.array([want_L, *want_grad]), np.concatenate([np.ravel(L), np.ravel(dtheta)]), 1e-8, 1e-10)
    return Result("chain L = Σ(Xθ − Y)²", "chain", diff is None, diff or {})


# -- exercise 2: linear regression trained with the learner's blocks ----------------------------------


def _regression(seed: int = 7, n: int = 120, d: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = X @ np.array([1.5, -2.0, 0.5][:d]) + 0.1 * rng.standard_normal(n)
    return X, Y


def check_exercise_linreg(module) -> list[Result]:
    results = missing(module, ("loss_and_gradient", "gradient_descent", "sgd"))
    if not _all_there(results):
        return results
    X, Y = _regression()
    theta = np.random.default_rng(3).standard_normal(X.shape[1])
    name = "loss_and_gradient"
    try:
        L, grad = module.loss_and_gradient(theta.copy(), X, Y)
        want_L = float(np.sum((X @ theta - Y) ** 2))
        diff = _compare(np.array([want_L, *(2 * X.T @ (X @ theta - Y))]),
                        np.concatenate([np.ravel(L), np.ravel(grad)]), 1e-8, 1e-10)
        results.append(Result(name, "linreg_gradient", diff is None, diff or {}))
    except Exception as exc:  # noqa: BLE001
        results.append(_failure(name, "linreg_gradient", exc))
    best = np.linalg.lstsq(X, Y, rcond=None)[0]
    best_loss = float(np.sum((X @ best - Y) ** 2))
    lr = 0.5 / (2 * np.linalg.eigvalsh(X.T @ X).max())  # half the largest stable step
    for name, call, tol in [
        ("gradient_descent", lambda: module.gradient_descent(X, Y, lr, 400, np.random.default_rng(1)), 1e-6),
        ("sgd", lambda: module.sgd(X, Y, lr / 2, 40, 12, np.random.default_rng(1)), 0.1),
    ]:
        try:
            got = np.asarray(call(), dtype=np.float64)
            if got.shape != best.shape:
                results.append(Result(name, "converges", False, {"problem": "shape",
                                                                 "expected_shape": list(best.shape),
                                                                 "got_shape": list(got.shape)}))
                continue
            loss = float(np.sum((X @ got - Y) ** 2))
            ok = loss <= best_loss * (1 + tol) + 1e-12
            results.append(Result(name, "converges", ok, {} if ok else {
                "loss": loss, "best_loss": best_loss, "theta": got.tolist(), "closed_form": best.tolist()},
                hint=None if ok else "converge", hint_fields={"what": name}))
        except Exception as exc:  # noqa: BLE001
            results.append(_failure(name, "converges", exc))
    return results


# -- exercise 3: the backward pass on a graph of Values ------------------------------------------------


def _lecture_values(module, example: int):
    """The lecture's examples 1 and 2 built from the learner's Value: (inputs by name, output)."""
    V = module.Value
    if example == 1:
        A, B, C, D = V(2.0), V(1.0), V(5.0), V(3.0)
        return {"A": A, "B": B, "C": C, "D": D}, (A + B) * (C - D) * 2.0
    A, B, C = V(1.0), V(2.0), V(4.0)
    E = A + B
    return {"A": A, "B": B, "C": C}, E.square() + E * C


def check_exercise_graph(module) -> list[Result]:
    from ..explain import lecture

    results = missing(module, ("Value", "topological_order", "backward"))
    if not _all_there(results):
        return results
    for example in (1, 2):
        name, label = f"lecture example {example}", ("lecture_example", {"n": example})
        try:
            leaves, out = _lecture_values(module, example)
            module.backward(out)
        except Exception as exc:  # noqa: BLE001
            results.append(_failure(name, "graph_gradients", exc, label))
            continue
        trace = lecture(example, check=False)
        want = {k: float(np.asarray(v)) for k, v in trace.gradients.items()}
        got = {k: _float(leaves[k].grad) for k in want}
        bad = {k: (want[k], got[k]) for k in want
               if got[k] is None or not np.isclose(got[k], want[k], rtol=1e-10, atol=1e-12)}
        if not bad:
            hint = None
        elif all(g in (None, 0.0) for _, g in bad.values()):
            hint = "backward_rule"  # nothing arrived: backward did not run the rules
        else:
            hint = "paths_sum" if example == 2 else "mul_rule"
        results.append(Result(name, "graph_gradients", not bad,
                              {"gradients": {k: {"expected": e, "got": g} for k, (e, g) in bad.items()}} if bad
                              else {}, hint=hint, label=label))
    results.append(_same_value_twice(module))
    results.append(_order_check(module))
    results.append(_deep_chain(module))
    return results


def _same_value_twice(module) -> Result:
    """x · x and 3a + 5a: one value on two paths of one op (or two ops), whatever the order of the walk;
    a rule that assigns (=) instead of adding (+=) loses one of the two."""
    name, label = "x · x, 3a + 5a", ("same_value", {})
    V = module.Value
    try:
        x = V(1.5)
        module.backward(x * x)
        a = V(2.0)
        module.backward(a * 3.0 + a * 5.0)
        got = {"x": _float(x.grad), "a": _float(a.grad)}
    except Exception as exc:  # noqa: BLE001
        return _failure(name, "graph_gradients", exc, label)
    want = {"x": 3.0, "a": 8.0}
    bad = {k: (want[k], got[k]) for k in want if got[k] is None or not np.isclose(got[k], want[k])}
    return Result(name, "graph_gradients", not bad,
                  {"gradients": {k: {"expected": e, "got": g} for k, (e, g) in bad.items()}} if bad else {},
                  hint="paths_sum_same" if bad else None, label=label)


def _order_check(module) -> Result:
    """On a diamond with a shared value: each value once, after all of its parents, the root last."""
    name = "topological_order"
    V = module.Value
    try:
        a, b = V(1.5), V(-2.0)
        c = a * b
        d = c + a
        e = c * d
        root = e + d.square()
        order = list(module.topological_order(root))
    except Exception as exc:  # noqa: BLE001
        return _failure(name, "order", exc)
    ids = [id(v) for v in order]
    position = {i: k for k, i in enumerate(ids)}
    everyone = {id(v) for v in (a, b, c, d, e, root)}
    ok = (len(ids) == len(set(ids)) and everyone <= set(ids) and ids[-1] == id(root)
          and all(position[id(p)] < position[id(v)] for v in order for p in v.parents if id(p) in position))
    return Result(name, "order", ok, hint=None if ok else "order")


def _deep_chain(module, depth: int = 10_000) -> Result:
    """x·1.0001 ten thousand times: no recursion limit, and d out/d x = 1.0001¹⁰⁰⁰⁰."""
    name, label = f"chain of {depth:,} values", ("deep_chain", {"n": f"{depth:,}"})
    V = module.Value
    try:
        x = V(1.0)
        y = x
        for _ in range(depth):
            y = y * 1.0001
        module.backward(y)
    except RecursionError as exc:
        return Result(name, "deep", False, hint="recursion", error=_error_text(exc), label=label)
    except Exception as exc:  # noqa: BLE001
        return _failure(name, "deep", exc, label)
    want, got = 1.0001 ** depth, _float(x.grad)
    ok = got is not None and bool(np.isclose(got, want, rtol=1e-9))
    return Result(name, "deep", ok, {} if ok else {"gradients": {"x": {"expected": want, "got": got}}},
                  label=label)


# -- exercises 4 and 5: activations; softmax with cross-entropy ---------------------------------------


def check_exercise_activations(module) -> list[Result]:
    results = check_blocks(module, ACTIVATION_BLOCKS)
    name, label = "Sigmoid at ±1000", ("sigmoid_extreme", {})
    try:
        with np.errstate(all="ignore"):  # judged by its values: a warning on the way is no mistake
            block = module.Sigmoid()
            y = _numbers(block.forward(np.array([-1000.0, 1000.0])))
            (g,) = _as_grads(block.backward(np.ones(2)), 1)
        g = _numbers(g)
        ok = y is not None and g is not None and bool(np.allclose(y, [0.0, 1.0]) and np.all(np.isfinite(g)))
        results.append(Result(name, "stable", ok, {} if ok else {"got": None if y is None else y.tolist()},
                              hint=None if ok else "sigmoid_stable", label=label))
    except Exception as exc:  # noqa: BLE001
        results.append(_failure(name, "stable", exc, label))
    return results


def check_exercise_softmax(module) -> list[Result]:
    results = check_blocks(module, [SOFTMAX_BLOCK])
    name, label = "SoftmaxCrossEntropy at logits of 1000", ("softmax_extreme", {})
    try:
        with np.errstate(all="ignore"):
            block = module.SoftmaxCrossEntropy()
            L = _float(np.asarray(block.forward(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))))
            (g, *_) = _as_grads(block.backward(1.0), 2)
        g = _numbers(g)
        ok = L is not None and g is not None and bool(np.isclose(L, 500.0) and np.all(np.isfinite(g)))
        results.append(Result(name, "stable", ok, {} if ok else {"expected": 500.0, "got": L},
                              hint=None if ok else "softmax_stable", label=label))
    except Exception as exc:  # noqa: BLE001
        results.append(_failure(name, "stable", exc, label))
    return results


# -- exercise 6: the MLP on the digits -----------------------------------------------------------------


def check_exercise_mlp(module) -> list[Result]:
    from ..data.classification import load_digits

    results = check_blocks(module, [LINEAR_BLOCK])
    there = missing(module, ("train", "predict"))
    results += there
    if not _all_there(there):
        return results
    name, label = "train on digits", ("train_digits", {})
    try:
        digits = load_digits()
    except Exception as exc:  # noqa: BLE001 - the data set needs scikit-learn
        return [*results, Result(name, "accuracy", False, error=_error_text(exc), label=label)]
    X, y = digits.X / 16.0, np.asarray(digits.Y)
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1347], order[1347:]
    try:
        params = module.train(X[train], y[train], hidden=32, lr=0.1, epochs=15, batch_size=32,
                              rng=np.random.default_rng(0))
        predicted = np.asarray(module.predict(params, X[test]))
        accuracy = float(np.mean(predicted == y[test]))
    except Exception as exc:  # noqa: BLE001
        return [*results, _failure(name, "accuracy", exc, label)]
    ok = accuracy >= 0.9
    results.append(Result(name, "accuracy", ok, {"accuracy": round(accuracy, 4), "needed": 0.9},
                          hint=None if ok else "accuracy", label=label))
    return results


CHECKS: dict[str, Callable[[Any], list[Result]]] = {
    "blocks": check_exercise_blocks,
    "linreg": check_exercise_linreg,
    "graph": check_exercise_graph,
    "activations": check_exercise_activations,
    "softmax": check_exercise_softmax,
    "mlp": check_exercise_mlp,
}

__all__ = ["Result", "BlockSpec", "CHECKS", "check_block"]
