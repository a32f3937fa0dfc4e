"""``Module`` and ``Parameter``: models as trees of layers that own their parameters.

Mirrors ``torch.nn.Module`` so a reader's habits carry over::

    class TwoLayer(Module):
        def __init__(self, n_in, n_hidden, rng=None):
            super().__init__()                      # always first: sets up the registries
            self.hidden = Linear(n_in, n_hidden, rng=rng)   # a Module attribute: registered
            self.out = Linear(n_hidden, 1, rng=rng)
            self.scale = Parameter(np.ones(1))     # a Parameter attribute: registered
            self._n_in, self._n_hidden = n_in, n_hidden

        def forward(self, x):
            return self.out(self.hidden(x).relu()) * self.scale

        def config(self):                           # constructor arguments, JSON-able
            return {"n_in": self._n_in, "n_hidden": self._n_hidden}

    model = TwoLayer(3, 8, rng=np.random.default_rng(0))
    [name for name, _ in model.named_parameters()]
    # ['scale', 'hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']

Extending (for new layers and containers)
-----------------------------------------
* Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers
  it; :meth:`Module.add_module` / :meth:`Module.register_parameter` /
  :meth:`Module.register_buffer` do the same with a computed name (containers use
  ``add_module("0", layer)`` so that names come out as ``0.weight``, as in PyTorch).
* :class:`ModuleList` holds an indexable list of modules (``layers.0.weight``).
* Buffers are arrays that belong to the model's state but are not trained (e.g.
  running statistics); they appear in :meth:`state_dict`, not in :meth:`parameters`.
* ``training`` is a plain flag set by :meth:`train` / :meth:`eval` on the whole
  tree; layers that behave differently in training (dropout) read ``self.training``.
* To be saved with :func:`chainrule.save` and rebuilt by :func:`chainrule.load`, a
  model implements :meth:`config` (its constructor arguments as a JSON-able dict)
  and is registered with :func:`chainrule.serialization.register_model`. A
  container whose children cannot be described by plain arguments overrides the
  class method :meth:`from_config`, e.g. storing ``{"layers": [module_spec(m) ...]}``
  and rebuilding with :func:`chainrule.serialization.build_module`.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from ..backend import is_foreign, like, namespace_of, numpy_dtype, to_numpy
from ..errors import ChainruleError, ConfigError, DTypeError, ShapeError
from ..hooks import HookHandle
from ..inplace import overwrite
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a :class:`Module` trains: it always requires a gradient.

    Parameters
    ----------
    data : array-like of floats, any shape. Kept as given (no copy) when it already
        is a float ndarray; Python numbers become float64.
    requires_grad : True by default (a frozen parameter may switch it off).
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data)
        if data.dtype.kind not in "f":
            if data.dtype.kind in "iub":
                data = data.astype(np.float64)
            else:
                raise DTypeError(f"Parameter: needs floating-point data, got dtype {data.dtype}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` could not match (only with ``strict=False``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every model and layer: subclass it, call ``super().__init__()``, write ``forward``.

    Attributes
    ----------
    training : bool, True after :meth:`train` (the default), False after :meth:`eval`.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", [])
        object.__setattr__(self, "training", True)

    # -- registration ------------------------------------------------------------------
    def _registries(self) -> tuple[dict, dict, dict]:
        try:
            d = self.__dict__
            return d["_parameters"], d["_buffers"], d["_modules"]
        except KeyError:
            raise ChainruleError(
                f"{type(self).__name__}: call super().__init__() at the top of __init__ "
                f"before assigning parameters or sub-modules"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, (Parameter, Module)) or (
            "_parameters" in self.__dict__
            and (name in self._parameters or name in self._modules or name in self._buffers)
        ):
            params, buffers, modules = self._registries()
            if isinstance(value, Parameter):
                if name not in params:  # a new name goes last; a replaced one keeps its place
                    self._forget(name)
                params[name] = value
            elif isinstance(value, Module):
                if name not in modules:
                    self._forget(name)
                modules[name] = value
            elif name in params:
                if value is not None:
                    raise TypeError(
                        f"{type(self).__name__}.{name} is a Parameter; assign a Parameter or None "
                        f"(or change its values with .data[...] = ...), not {type(value).__name__}"
                    )
                params[name] = None
            elif name in buffers:
                value = buffers[name] = None if value is None else np.asarray(value)
            else:  # replacing a sub-module by something else
                if value is not None:
                    raise TypeError(f"{type(self).__name__}.{name} is a Module; assign a Module or None")
                modules[name] = None
            # Also kept in __dict__ so that reading the attribute is a plain (fast) lookup;
            # the registries stay the source of truth for parameters(), state_dict(), ...
            object.__setattr__(self, name, value)
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        for registry in self._registries():
            registry.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails (registered names also live in __dict__).
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            registry = d.get(key)
            if registry is not None and name in registry:
                return registry[name]
        if "_loaded_from" in d and name in ("model", "kind", "task", "path"):
            warnings.warn(
                f"chainrule.load(path) now returns the model itself (metadata on model.metadata); "
                f"for .{name} use chainrule.load(path, with_metadata=True).{name}",
                DeprecationWarning, stacklevel=2,
            )
            from ..serialization import Checkpoint

            kind, path = d["_loaded_from"]
            return getattr(Checkpoint(self, kind, self.config(), d["metadata"], path), name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in self._registries():
            if name in registry:
                del registry[name]
                self.__dict__.pop(name, None)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, e.g. a layer built with ``bias=False``) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: expected a Parameter or None, got {type(param).__name__}")
        params, _, _ = self._registries()
        self._forget(name)
        params[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, value: Any) -> None:
        """Register an array that is part of the state (saved, loaded) but not trained."""
        _, buffers, _ = self._registries()
        self._forget(name)
        buffers[name] = None if value is None else np.asarray(value)
        object.__setattr__(self, name, buffers[name])

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name`` (containers use ``"0"``, ``"1"``, ...)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: expected a Module, got {type(module).__name__}")
        if "." in str(name) or not str(name):
            raise ConfigError(f"add_module: a module name must be non-empty and have no dot, got {name!r}")
        _, _, modules = self._registries()
        self._forget(str(name))
        modules[str(name)] = module
        object.__setattr__(self, str(name), module)

    # -- running -----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``model(x)`` runs ``model.forward(x)`` (the class's, or one set on this instance), then
        the forward hooks."""
        out = self.forward(*args, **kwargs)
        hooks = self.__dict__.get("_forward_hooks")
        if hooks:
            for hook in list(hooks):
                replaced = hook(self, args, out)
                if replaced is not None:
                    out = replaced
        return out

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> HookHandle:
        """Call ``hook(module, inputs, output)`` after every forward of this module, as
        ``torch.nn.Module.register_forward_hook``: it may return a replacement output, or None.
        Returns a handle whose ``remove()`` takes the hook away."""
        hooks = self.__dict__.setdefault("_forward_hooks", [])
        hooks.append(hook)
        return HookHandle(hooks, hook)

    # -- walking the tree --------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules with their attribute names."""
        for name, module in self._registries()[2].items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (name ``prefix``) and every module below it, depth first, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` pairs: own parameters first, then each child's.

        Names match PyTorch's (``weight``, ``hidden.bias``, ``0.weight``), so state
        dicts map one to one. A parameter shared by two modules is listed once.
        """
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mod_name, module in modules:
            for name, param in module._registries()[0].items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{mod_name}.{name}" if mod_name else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of the tree, in :meth:`named_parameters` order (give these to an optimiser)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, module in self.named_modules(prefix):
            for name, buf in module._registries()[1].items():
                if buf is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), buf

    def num_parameters(self) -> int:
        """Total number of trained scalars."""
        return int(sum(p.size for p in self.parameters()))

    # -- gradients and modes -----------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets ``.grad`` to None, as PyTorch's default)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every module below; returns ``self``."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Same as ``train(False)``: layers such as dropout switch to inference behaviour."""
        return self.train(False)

    def astype(self, dtype: Any) -> Module:
        """Convert every parameter and floating buffer to ``dtype`` in place; returns ``self``.

        Build a float32 model with ``Linear(3, 1, dtype=np.float32)`` or convert one
        with ``model.astype(np.float32)``. Gradients are dropped.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DTypeError(f"astype: parameters must be floating point, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        for module in self.modules():
            buffers = module._registries()[1]
            for name, buf in buffers.items():
                if buf is not None and buf.dtype.kind == "f":
                    buffers[name] = buf.astype(dtype)
                    object.__setattr__(module, name, buffers[name])
        return self

    def to(self, device: str) -> Module:
        """Move every parameter and buffer to ``device`` (``"cpu"``: NumPy; ``"cuda"``: CuPy) in place, as
        ``torch.nn.Module.to``; returns ``self``. Gradients are dropped (an optimiser made before keeps
        working: it holds the same parameters). One clear error when CuPy or a GPU is missing."""
        from ..backend import check_device, to_device

        device = check_device(device)
        for p in self.parameters():
            p.data = to_device(p._data, device)
            p.grad = None
        for module in self.modules():
            buffers = module._registries()[1]
            for name, buf in buffers.items():
                if buf is not None:
                    buffers[name] = to_device(buf, device)
                    object.__setattr__(module, name, buffers[name])
        return self

    @property
    def device(self) -> str:
        """Where the parameters live (the first one's device; ``"cpu"`` without parameters)."""
        for p in self.parameters():
            return p.device
        return "cpu"

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of the first parameter, as NumPy names it on any device (``None`` without parameters)."""
        for p in self.parameters():
            return numpy_dtype(p.dtype)
        return None

    # -- state -------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """A snapshot of every parameter and buffer: ``{dotted name: array copy}``.

        Unlike PyTorch the arrays are copies, so a state dict taken during training
        keeps the values of that moment (``fit(restore_best=True)`` relies on it).
        """
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, p in self.named_parameters():
            data = p.data
            state[name] = namespace_of(data).asarray(data, copy=True) if is_foreign(data) else data.copy()
        for name, buf in self.named_buffers():
            state[name] = namespace_of(buf).asarray(buf, copy=True) if is_foreign(buf) else \
                np.array(buf, copy=True)
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state``'s arrays into the parameters and buffers, in place, checking names and shapes.

        Parameters
        ----------
        state : ``{dotted name: array}``, as made by :meth:`state_dict` or read from a file.
        strict : raise when a name is missing or unexpected (otherwise they are returned).

        Raises
        ------
        ShapeError : an array whose shape differs from the parameter's (always checked).
        ChainruleError : missing or unexpected names when ``strict``.
        """
        own: dict[str, tuple[Any, str]] = {}
        for name, p in self.named_parameters():
            own[name] = (p, "parameter")
        for mod_name, module in self.named_modules():
            for name, buf in module._registries()[1].items():
                if buf is not None:
                    own[f"{mod_name}.{name}" if mod_name else name] = ((module, name), "buffer")
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unexpected:
                parts.append(f"unexpected {unexpected}")
            raise ChainruleError(
                f"load_state_dict into {type(self).__name__}: names do not match ({'; '.join(parts)}); "
                f"the model expects {list(own)}"
            )
        for name, (target, kind) in own.items():
            if name not in state:
                continue
            value = to_numpy(state[name])  # a state dict from any device; written where the model lives
            if kind == "parameter":
                current = target.data
            else:
                module, bname = target
                current = module._registries()[1][bname]
            if is_foreign(current):  # the model lives on another array library (a GPU)
                if value.shape != tuple(current.shape):
                    raise ShapeError(f"load_state_dict into {type(self).__name__}: {name!r} has shape {value.shape} "
                                     f"but the model's {kind} has shape {tuple(current.shape)}")
                moved = namespace_of(current).astype(like(value, current), current.dtype)
                if kind == "parameter":
                    target.data, target.grad = moved, None
                else:
                    module._registries()[1][bname] = moved
                    object.__setattr__(module, bname, moved)
                continue
            if value.shape != current.shape:
                raise ShapeError(
                    f"load_state_dict into {type(self).__name__}: {name!r} has shape {value.shape} "
                    f"but the model's {kind} has shape {current.shape}"
                )
            if kind == "parameter":
                overwrite(target, value)
                target.grad = None
            else:
                module._registries()[1][bname] = value.astype(current.dtype, copy=True)
                object.__setattr__(module, bname, module._registries()[1][bname])
        return IncompatibleKeys(missing, unexpected)

    # -- rebuilding ----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-able dict, so ``type(m).from_config(m.config())`` rebuilds ``m``.

        Every model that is saved must override this (the parameter values travel
        separately, in the state dict).
        """
        raise NotImplementedError(
            f"{type(self).__name__}.config() is not written; a model must return its constructor "
            f"arguments as a JSON-able dict to be saved and rebuilt"
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        """Build a fresh (untrained) module from :meth:`config`'s dict; containers override this."""
        return cls(**config)

    # -- display -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        try:
            cfg = self.config()
        except NotImplementedError:
            return ""
        return ", ".join(f"{k}={v!r}" for k, v in cfg.items() if not isinstance(v, (list, dict)))

    def __repr__(self) -> str:
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        lines = [head]
        for name, module in kids:
            body = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules, registered under ``"0"``, ``"1"``, ... (so parameters are named ``0.weight``).

    >>> blocks = ModuleList([Linear(3, 4), Linear(4, 1)])
    >>> [n for n, _ in blocks.named_parameters()]
    ['0.weight', '0.bias', '1.weight', '1.bias']

    It has no ``forward``: the owner decides how to run its items.
    """

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int) -> Module:
        items = list(self._modules.values())
        return items[index]
