"""Optimisers and learning-rate schedules, with PyTorch's names and update rules.

An optimiser holds parameter groups (``param_groups``: a list of dicts with
``"params"`` and the hyper-parameters) and updates every parameter's array in
place on :meth:`Optimizer.step`, so models, optimisers and saved references stay
in sync::

    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    for X, Y in loader:
        opt.zero_grad()
        loss_fn(model(X), Y).backward()
        opt.step()

Full-batch gradient descent is :class:`SGD` with the whole data set as one batch.
Schedules (:class:`StepLR`, :class:`CosineAnnealingLR`) change ``group["lr"]``;
call their ``step()`` once per epoch, after the optimiser's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy import multiply, subtract

from .backend import is_foreign, namespace_of
from .errors import ConfigError
from .grad_mode import enable_grad
from .inplace import RepeatedStamp, mark_written
from .tensor import Tensor, values_of

#: Parameters of more elements than this are updated slice by slice (:func:`subtract_scaled`);
#: smaller ones with one ``p -= lr * g``, whose temporary is small.
_SLICE = 1 << 14
#: Bytes of the scratch array a big parameter is updated through, one slice at a time: small
#: enough to stay in a core's L2 cache and to cost little memory, big enough that the loop over
#: slices is short (a 512 x 784 float32 weight: 7 slices).
SCRATCH_BYTES = 256 * 1024
_F64 = np.dtype(np.float64)


def subtract_scaled(p: np.ndarray, g: np.ndarray, scale: float, scratch: dict | None = None) -> None:
    """``p -= scale * g`` in place, cheap at both ends of the size range; ``g`` is left as it is.

    A big ``p`` is updated slice by slice through a scratch array of :data:`SCRATCH_BYTES`
    (``scale * g[slice]`` written into it, then subtracted), never through a temporary its
    own size: a temporary of a few MB is one the allocator may hand back to the system when
    it is freed and map afresh, page by page, the next step (see ``benchmarks/README.md``,
    "The allocator"), which for a big weight matrix costs more than the arithmetic. The
    scratch arrays live in ``scratch`` (one per dtype, made on first use), which an
    optimiser keeps from step to step; without it they are made for this call. The bits are
    those of ``p -= scale * g``.

    A one-element float64 ``p`` (a bias, an intercept) goes through Python floats: NumPy 2's
    in-place update of a one-element array costs about 1.6 µs, ten times these lines, and
    Python floats are IEEE doubles, so the result has the same bits.
    """
    if g.size == 1 and p.dtype is _F64 and g.dtype is _F64 and p.size == 1:  # `is`: float64 is one object
        value = p.item() - scale * g.item()
        if p.ndim == 1:
            p[0] = value  # half the cost of fill
        else:
            p.fill(value)
        return
    if p.size <= _SLICE or g.dtype != p.dtype or not (p.flags.c_contiguous and g.flags.c_contiguous):
        p -= scale * g
        return
    dtype = p.dtype
    buffer = None if scratch is None else scratch.get(dtype)
    if buffer is None:
        buffer = np.empty(max(1, SCRATCH_BYTES // dtype.itemsize), dtype)
        if scratch is not None:
            scratch[dtype] = buffer
    pf, gf = p.reshape(-1), g.reshape(-1)
    size, step = pf.size, buffer.size
    for start in range(0, size, step):
        stop = start + step
        part = pf[start:stop]
        tmp = buffer if stop <= size else buffer[: size - start]
        multiply(gf[start:stop], scale, out=tmp)
        subtract(part, tmp, out=part)


class Optimizer:
    """Base class: parameter groups, ``zero_grad`` and per-parameter ``state``.

    Parameters
    ----------
    params : Parameters (Tensors requiring grad), or dicts ``{"params": [...], "lr": ...}``
        giving groups their own hyper-parameters.
    defaults : hyper-parameters of every group that does not set its own.

    Writing an optimiser: subclass, pass the defaults to ``super().__init__`` and
    write ``step`` updating ``p.data`` in place (``p.data -= ...``) for each ``p``
    with a gradient, keeping per-parameter buffers in ``self.state[id(p)]``.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}  # keyed by id(parameter)
        self._stamp = RepeatedStamp()  # each step stamps the parameters it writes (see __init_subclass__)
        items = list(params)
        if not items:
            raise ConfigError(f"{type(self).__name__}: got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise ConfigError(f"{type(self).__name__}: can only optimise Tensors that require grad")
            if not p.is_leaf:
                raise ConfigError(f"{type(self).__name__}: can only optimise leaf Tensors (parameters)")
            if isinstance(p.data, np.ndarray) and not p.data.flags.writeable:
                p.data = p.data.copy()
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group.setdefault("initial_lr", group["lr"])
        self.param_groups.append(group)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every optimiser's step writes its parameters in place: stamped first, so that a graph
        # recorded before the step, which may have saved them, refuses to run backward on them.
        # A parameter without a gradient is skipped by every step (as in PyTorch), so not stamped.
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None:
            @functools.wraps(step)
            def stamped_step(self, *args: Any, **kw: Any) -> Any:
                self._stamp.stamp([p._data for group in self.param_groups for p in group["params"]
                                   if p.grad is not None])
                return step(self, *args, **kw)

            cls.step = stamped_step

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (``None``, as PyTorch's default, or zeros)."""
        for group in self.param_groups:
            if set_to_none:
                for p in group["params"]:
                    p.grad = None
                continue
            for p in group["params"]:
                p.grad = None if p.grad is None else np.zeros_like(p.data)

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state, as ``torch.optim.Optimizer.state_dict``: ``{"state": {i: {name:
        value}}, "param_groups": [{hyper-parameters, "params": [i, ...]}]}``, ``i`` a parameter's
        position in :meth:`parameters`. Arrays are copies."""
        index = {id(p): i for i, p in enumerate(self.parameters())}
        state = {index[key]: {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in s.items()}
                 for key, s in self.state.items() if key in index}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Put back a :meth:`state_dict` of an optimiser of the same kind over parameters of the
        same shapes, in the same groups."""
        params = self.parameters()
        groups = state_dict.get("param_groups", [])
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ConfigError(f"{type(self).__name__}.load_state_dict: the saved parameter groups "
                              f"{[len(g['params']) for g in groups]} do not match these "
                              f"{[len(g['params']) for g in self.param_groups]}")
        state: dict[int, dict[str, Any]] = {}
        for i, saved in state_dict.get("state", {}).items():
            i = int(i)
            if not 0 <= i < len(params):
                raise ConfigError(f"{type(self).__name__}.load_state_dict: no parameter {i}")
            entry = {}
            for name, value in saved.items():
                if isinstance(value, np.ndarray):
                    if value.shape != params[i].shape:
                        raise ConfigError(f"{type(self).__name__}.load_state_dict: {name} of parameter {i} has "
                                          f"shape {value.shape}, the parameter {params[i].shape}")
                    value = np.array(value, dtype=params[i].dtype, copy=True)
                entry[name] = value
            state[id(params[i])] = entry
        for group, saved in zip(self.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = state

    def parameters(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    @property
    def lr(self) -> float:
        """The learning rate of the first group."""
        return self.param_groups[0]["lr"]

    def __repr__(self) -> str:
        hp = {k: v for k, v in self.param_groups[0].items() if k not in ("params", "initial_lr")}
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in hp.items())})"


def _check_lr(name: str, lr: Any) -> float:
    if isinstance(lr, str) or not lr > 0 or not math.isfinite(lr):
        raise ConfigError(f"{name}: lr must be a positive number, got {lr!r}")
    return float(lr)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    The update, exactly PyTorch's (``dampening=0``), for a gradient g of parameter p::

        g ← g + weight_decay · p
        b ← g                      (first step)      b ← momentum · b + g   (later)
        g ← g + momentum · b       (nesterov)        g ← b                  (plain momentum)
        p ← p − lr · g

    Parameters
    ----------
    params : parameters or parameter groups.
    lr : step size (positive).
    momentum : 0 for plain (stochastic) gradient descent.
    nesterov : Nesterov's look-ahead form (needs ``momentum > 0``).
    weight_decay : L2 penalty coefficient.
    """

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        lr = _check_lr("SGD", lr)
        if momentum < 0 or weight_decay < 0:
            raise ConfigError(f"SGD: momentum and weight_decay must be >= 0, got {momentum}, {weight_decay}")
        if nesterov and momentum <= 0:
            raise ConfigError("SGD: nesterov=True needs momentum > 0")
        super().__init__(params, {"lr": lr, "momentum": float(momentum), "nesterov": bool(nesterov),
                                  "weight_decay": float(weight_decay)})
        self._scratch: dict[np.dtype, np.ndarray] = {}  # subtract_scaled's, one per dtype, kept between steps

    def step(self) -> None:
        for group in self.param_groups:
            lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                foreign = type(g) is not np.ndarray and is_foreign(g)  # on another array library (a GPU)
                if type(g) is not np.ndarray and not foreign:  # a recorded gradient (create_graph=True): its values
                    g = values_of(g)
                if wd:
                    g = g + wd * p._data
                if mom:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = (namespace_of(g).asarray(g, copy=True) if foreign
                                                          else np.array(g, copy=True))
                    else:
                        buf *= mom
                        buf += g
                    g = g + mom * buf if group["nesterov"] else buf
                if foreign:
                    p._data -= lr * g  # in place, on the parameter's own device
                elif 1 < g.size <= _SLICE:
                    p._data -= lr * g  # the common case, without the call below
                else:
                    subtract_scaled(p._data, g, lr, self._scratch)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, as ``torch.optim.Adam``.

    For step t and gradient g (plus ``weight_decay · p`` when set)::

        m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
        p ← p − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + eps)

    Parameters
    ----------
    params : parameters or parameter groups.
    lr : step size (default 1e-3).
    betas : (β₁, β₂), the decay rates of the two moment estimates.
    eps : added to the denominator.
    weight_decay : L2 penalty coefficient (added to the gradient, not decoupled).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        lr = _check_lr("Adam", lr)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ConfigError(f"Adam: betas must lie in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": (float(b1), float(b2)), "eps": float(eps),
                                  "weight_decay": float(weight_decay)})

    def step(self) -> None:
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                foreign = type(g) is not np.ndarray and is_foreign(g)  # on another array library (a GPU)
                if type(g) is not np.ndarray and not foreign:  # a recorded gradient (create_graph=True): its values
                    g = values_of(g)
                xp = namespace_of(g) if foreign else np
                if wd:
                    g = g + wd * p._data
                state = self.state.setdefault(id(p), {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(p._data)  # the moments on the parameter's device
                    state["exp_avg_sq"] = xp.zeros_like(p._data)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * (g * g)
                denom = xp.sqrt(v / (1 - b2**t)) + eps
                p._data -= (lr / (1 - b1**t)) * m / denom


class LBFGS(Optimizer):
    """L-BFGS, with PyTorch's interface and iterates: ``opt.step(closure)``.

    A quasi-Newton method: from the last ``history_size`` steps s and gradient changes y it
    applies an approximation of the inverse Hessian to the gradient (the two-loop recursion),
    scaled by H₀ = sᵀy / yᵀy, and steps along it, with a fixed step ``lr`` (the first one
    min(1, 1/‖g‖₁)·lr) or the step a strong-Wolfe line search finds
    (``line_search_fn="strong_wolfe"``). Each ``step`` runs up to ``max_iter`` iterations and
    calls the ``closure`` (which must zero the gradients, compute the loss, call ``backward``
    and return the loss) up to ``max_eval`` times; it stops early when the largest gradient
    element is at most ``tolerance_grad``, or the step or the loss changes by less than
    ``tolerance_change``. The same algorithm, step for step, as ``torch.optim.LBFGS`` (itself
    after minFunc), so both give the same iterates on the same problem.

    Parameters
    ----------
    params : the parameters (one group: L-BFGS works on them as one flat vector).
    lr : the step length (with a line search, its first trial step).
    max_iter, max_eval : iterations and closure calls per ``step`` (``max_eval`` defaults to
        ``max_iter * 5 // 4``).
    tolerance_grad, tolerance_change : the stopping tolerances above.
    history_size : how many (s, y) pairs are kept.
    line_search_fn : None or ``"strong_wolfe"``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        lr = _check_lr("LBFGS", lr)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ConfigError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if max_iter < 1 or history_size < 1:
            raise ConfigError(f"LBFGS: max_iter and history_size must be >= 1, got {max_iter}, {history_size}")
        super().__init__(params, {"lr": lr, "max_iter": int(max_iter),
                                  "max_eval": int(max_eval if max_eval is not None else max_iter * 5 // 4),
                                  "tolerance_grad": float(tolerance_grad),
                                  "tolerance_change": float(tolerance_change), "history_size": int(history_size),
                                  "line_search_fn": line_search_fn})
        if len(self.param_groups) != 1:
            raise ConfigError("LBFGS: takes one parameter group (it works on all parameters as one vector)")
        self._params = self.param_groups[0]["params"]

    # -- the parameters and their gradients as one flat vector -------------------------------
    def _flat_grad(self) -> np.ndarray:
        return np.concatenate([np.zeros(p.size, p.dtype) if p.grad is None else np.ravel(values_of(p.grad))
                               for p in self._params])

    def _add(self, step: float, direction: np.ndarray) -> None:
        """p ← p + step · direction (sliced per parameter), stamped as a write."""
        offset = 0
        for p in self._params:
            n = p.size
            p._data += step * direction[offset:offset + n].reshape(p.shape)
            mark_written(p._data)
            offset += n

    def _set(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self._params, values):
            p._data[...] = v
            mark_written(p._data)

    def _evaluate(self, closure) -> float:
        with enable_grad():
            return float(values_of(closure()))

    def _directional(self, closure, x: list[np.ndarray], t: float, d: np.ndarray) -> tuple[float, np.ndarray]:
        """The loss and gradient at x + t·d; the parameters are put back to x after."""
        self._add(t, d)
        loss = self._evaluate(closure)
        grad = self._flat_grad()
        self._set(x)
        return loss, grad

    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss before them (the closure's first value)."""
        if closure is None:
            raise ConfigError("LBFGS.step needs a closure: a function that zeros the gradients, computes "
                              "the loss, calls loss.backward() and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state.setdefault(id(self._params[0]), {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(values_of(orig_loss))
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max(initial=0.0) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            # the direction: steepest descent first, then the two-loop recursion on the history
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, H_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:  # keep the pair only where the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y @ y)
                al = [0.0] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(old_stps[i] @ q) * ro[i]
                    q = q - al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = float(old_dirs[i] @ r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # the step length
            t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(flat_grad @ d)  # the directional derivative
            if gtd > -tol_change:
                break
            ls_func_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = [p._data.copy() for p in self._params]
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    lambda x, t_, d_: self._directional(closure, x, t_, d_), x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add(t, d)
                opt_cond = np.abs(flat_grad).max(initial=0.0) <= tol_grad
            else:
                self._add(t, d)
                opt_cond = False
                if n_iter != max_iter:  # the last iteration's loss is not needed
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    opt_cond = np.abs(flat_grad).max(initial=0.0) <= tol_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max(initial=0.0) <= tol_change or abs(loss - prev_loss) < tol_change:
                break  # no progress

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As :meth:`Optimizer.load_state_dict`; the history (flat vectors) is taken as it is."""
        saved = state_dict.get("state", {})
        super().load_state_dict({**state_dict, "state": {}})
        if saved:
            self.state = {id(self._params[0]): _copied(next(iter(saved.values())))}


def _copied(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    return value


def _cubic_minimum(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                   bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clipped to
    ``bounds`` (the interval between the points by default); its middle where there is none."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, lo), hi)


def _strong_wolfe(evaluate, x, t: float, d: np.ndarray, f: float, g: np.ndarray, gtd: float, c1: float = 1e-4,
                  c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25):
    """A step t along d satisfying the strong Wolfe conditions (sufficient decrease, c1, and a
    small enough slope, c2): first a bracket is grown by cubic extrapolation, then narrowed by
    cubic interpolation (zoom). The same search as PyTorch's (after minFunc's). Returns the loss,
    gradient and step found, and the number of evaluations."""
    d_norm = float(np.abs(d).max(initial=0.0))
    f_new, g_new = evaluate(x, t, d)
    evals = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket, bracket_f, bracket_g, bracket_gtd = None, None, None, None
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        previous = t
        t = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new, gtd_new
        f_new, g_new = evaluate(x, t, d)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom: narrow the bracket until a point satisfies the conditions
    insufficient = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # not too close to an end of the bracket: move 10 % of its length inside when stuck there
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(x, t, d)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


# -- learning-rate schedules ----------------------------------------------------------------
class LRScheduler:
    """Base class: sets every group's ``lr`` to :meth:`lr_at` (epoch) on each :meth:`step`.

    Subclasses write ``lr_at(base_lr, epoch)``, a closed form in the epoch number.
    """

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.last_epoch = 0
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]

    def lr_at(self, base_lr: float, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the new learning rates."""
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The schedule's position: ``{"last_epoch": ..., "base_lrs": [...]}``."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Put back a :meth:`state_dict` (checked whole before anything changes)."""
        epoch, base_lrs = state_dict.get("last_epoch"), state_dict.get("base_lrs")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"{type(self).__name__}.load_state_dict: last_epoch must be a whole number >= 0, "
                              f"got {epoch!r}")
        if (not isinstance(base_lrs, list) or len(base_lrs) != len(self.base_lrs)
                or not all(isinstance(lr, (int, float)) and not isinstance(lr, bool) for lr in base_lrs)):
            raise ConfigError(f"{type(self).__name__}.load_state_dict: base_lrs must be {len(self.base_lrs)} "
                              f"numbers, one per parameter group, got {base_lrs!r}")
        self.last_epoch = epoch
        self.base_lrs = [float(lr) for lr in base_lrs]


class StepLR(LRScheduler):
    """lr = base_lr · gamma^⌊epoch / step_size⌋ (``torch.optim.lr_scheduler.StepLR``)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ConfigError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr − eta_min)(1 + cos(π · epoch / T_max)) / 2, held at eta_min after T_max."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 - PyTorch's name
        if T_max < 1:
            raise ConfigError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        e = min(epoch, self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * e / self.T_max)) / 2


#: Names accepted by :func:`build` (and the ``--optimizer`` option of ``chainrule train``).
OPTIMIZERS = ("gd", "sgd", "momentum", "nesterov", "adam")


def build(name: str, params: Iterable[Any], lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> Optimizer:
    """An optimiser by name: ``gd`` and ``sgd`` (plain SGD; gd means full batch, which the caller
    arranges), ``momentum`` / ``nesterov`` (SGD with ``momentum``), ``adam``."""
    if name in ("gd", "sgd"):
        return SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "nesterov":
        return SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return Adam(params, lr=lr, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def build_scheduler(name: str | None, optimizer: Optimizer, epochs: int, step_size: int | None = None,
                    gamma: float = 0.1) -> LRScheduler | None:
    """``None``/``"none"``, ``"step"`` (every ``step_size`` epochs, default epochs // 3) or ``"cosine"``."""
    if name in (None, "none", "constant"):
        return None
    if name == "step":
        return StepLR(optimizer, step_size or max(1, epochs // 3), gamma)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, max(1, epochs))
    raise ConfigError(f"unknown schedule {name!r}; choose none, step or cosine")


__all__ = [
    "Optimizer", "SGD", "Adam", "LBFGS", "LRScheduler", "StepLR", "CosineAnnealingLR", "OPTIMIZERS", "build",
    "build_scheduler",
]
