"""Which array library holds the values: NumPy (the default) or another that follows the Python array API
standard (CuPy on a GPU; ``array-api-strict`` in the tests, which refuses anything outside the standard).

An op that declares ``array_api = True`` computes with :func:`xp_of` of its inputs (``xp``)
instead of ``numpy``; calls that the standard spells otherwise than NumPy get one named helper here
each (``cast``, ``masked``, ``reshaped``, ``transposed``, ``elementwise``, and ``gather`` and
``scatter_add`` for the indexing the standard leaves out). NumPy arrays take a fast
path: ``xp_of`` returns ``numpy`` itself after one type test per input, so the NumPy path does not
change.

Devices are named as PyTorch names them: ``"cpu"`` (NumPy) and ``"cuda"`` (CuPy); an array of
another library reports its own device.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .errors import ConfigError, MissingDependencyError

_NUMPY_TYPES = (np.ndarray, np.generic, int, float, bool, complex)


def is_foreign(x: Any) -> bool:
    """Whether ``x`` is an array of another library than NumPy that follows the array API standard (NumPy's
    own arrays and scalars have ``__array_namespace__`` too, and are not foreign; CuPy's arrays are, with or
    without the attribute)."""
    if isinstance(x, _NUMPY_TYPES):  # NumPy's, and Python's numbers: the common case, decided at once
        return False
    return hasattr(x, "__array_namespace__") or type(x).__module__.startswith("cupy")


def namespace_of(x: Any) -> ModuleType:
    """The array API namespace of one foreign array: its own ``__array_namespace__``, or array-api-compat's
    wrapper (CuPy)."""
    get = getattr(x, "__array_namespace__", None)
    if get is not None and not type(x).__module__.startswith("cupy"):
        return get()
    return _compat().array_namespace(x)


def namespace(*xs: Any) -> ModuleType:
    """The array namespace of ``xs`` (numbers and None are ignored): ``numpy`` for NumPy arrays, else the
    array API namespace through ``array-api-compat``.

    Raises
    ------
    ConfigError : arrays of two libraries (two devices) together, naming both.
    """
    foreign = [x for x in xs if x is not None and not isinstance(x, _NUMPY_TYPES)]
    if not foreign:
        return np
    compat = _compat()
    try:
        return compat.array_namespace(*foreign)
    except TypeError:
        names = sorted({f"{type(x).__module__.split('.')[0]} ({device_name(x)})" for x in foreign})
        raise ConfigError(f"arrays of different libraries or devices together: {', '.join(names)}") from None


def _compat() -> ModuleType:
    try:
        import array_api_compat
    except ImportError:
        raise MissingDependencyError("arrays other than NumPy's need array-api-compat "
                                     "(pip install 'chainrule[gpu]')") from None
    return array_api_compat


def device_name(x: Any) -> str:
    """Where ``x`` lives: ``"cpu"`` for NumPy, ``"cuda"`` (``"cuda:1"``) for CuPy, else its library's word."""
    if isinstance(x, _NUMPY_TYPES):
        return "cpu"
    module = type(x).__module__.split(".")[0]
    if module == "cupy":
        index = getattr(getattr(x, "device", None), "id", 0)
        return "cuda" if not index else f"cuda:{index}"
    device = str(_compat().device(x))  # e.g. array_api_strict.Device('CPU_DEVICE'): its quoted name
    return f"{module}:{device.split(chr(39))[1].lower() if chr(39) in device else device.lower()}"


def check_device(device: Any) -> str:
    """A device name as users give it (``"cpu"``, ``"cuda"``, ``"cuda:0"``), checked."""
    text = str(device).lower() if device is not None else "cpu"
    if text == "cpu" or text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ConfigError(f"unknown device {str(device)[:40]!r}; use 'cpu' or 'cuda' (a GPU, through CuPy)")


def cupy() -> ModuleType:
    """CuPy, with one clear line when it or a GPU is missing."""
    try:
        import cupy as cp
    except ImportError:
        raise MissingDependencyError("device 'cuda' needs CuPy and an NVIDIA GPU: pip install "
                                     "'chainrule[gpu]'") from None
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no GPU")
    except Exception:  # noqa: BLE001 - CuPy's own errors differ by version: one line for all of them
        raise MissingDependencyError("device 'cuda': CuPy is installed but finds no usable GPU") from None
    return cp


def to_device(x: Any, device: str) -> Any:
    """``x`` on ``device``: a NumPy array for ``"cpu"``, a CuPy array for ``"cuda"`` (a copy when it moves)."""
    device = check_device(device)
    if device == "cpu":
        return to_numpy(x)
    cp = cupy()
    index = int(device[5:]) if ":" in device else 0
    with cp.cuda.Device(index):
        return cp.asarray(x)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array of ``x``'s values, on the host (a CuPy array is copied back; a NumPy one is itself)."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.split(".")[0] == "cupy":
        return x.get()
    return np.asarray(x)


#: NumPy's names of elementwise functions that the array API standard names otherwise.
_STANDARD_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
                   "arctanh": "atanh", "power": "pow"}


def elementwise(name: str):
    """NumPy's elementwise function ``name`` for every kind of input: NumPy arrays and numbers (NumPy's own
    ufunc, unchanged), another library's arrays (its namespace's function, by the standard's name), and a
    Tensor in a recorded backward (its method of that name, so the call is recorded)."""
    f = getattr(np, name)
    standard = _STANDARD_NAMES.get(name, name)

    def apply(x):
        if isinstance(x, _NUMPY_TYPES):
            return f(x)
        if is_foreign(x):
            if name == "reciprocal":  # not in the standard
                return 1 / x
            return getattr(namespace_of(x), standard)(x)
        return getattr(x, name)()

    apply.__name__ = name
    return apply


def reshaped(x: Any, shape: tuple) -> Any:
    """``x.reshape(shape)`` for NumPy arrays and Tensors; the namespace's ``reshape`` for the standard's arrays."""
    if type(x) is np.ndarray or not is_foreign(x):
        return x.reshape(shape)
    return namespace_of(x).reshape(x, shape)


def transposed(x: Any, axes: tuple) -> Any:
    """``x.transpose(axes)`` for NumPy arrays and Tensors; ``permute_dims`` for the standard's arrays."""
    if type(x) is np.ndarray or not is_foreign(x):
        return x.transpose(axes)
    return namespace_of(x).permute_dims(x, axes)


def cast(x: Any, dtype: Any) -> Any:
    """``x.astype(dtype)`` for NumPy arrays and Tensors; the namespace's ``astype`` for the standard's arrays."""
    if is_foreign(x):
        return namespace_of(x).astype(x, dtype)
    return x.astype(dtype)


def xp_of(*xs: Any) -> ModuleType:
    """The namespace of the first foreign array among ``xs`` (see :func:`is_foreign`), else ``numpy``: what an op
    computes with, on NumPy's fast path after one test per input."""
    for x in xs:
        if is_foreign(x):
            return namespace_of(x)
    return np


def masked(upstream: Any, mask: Any) -> Any:
    """``upstream * mask`` for a boolean ``mask``: as it is for NumPy (and Tensors), the mask cast to the
    upstream's dtype for the standard's arrays (which multiply no booleans into floats)."""
    if is_foreign(upstream) or is_foreign(mask):
        return upstream * namespace_of(upstream if is_foreign(upstream) else mask).astype(mask, upstream.dtype)
    return upstream * mask


def numpy_dtype(dtype: Any) -> np.dtype:
    """A dtype of any array library as NumPy's (``array_api_strict.float32`` -> ``float32``)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def like(x: Any, reference: Any) -> Any:
    """``x`` (NumPy data: a batch, a mask made on the host) on the library and device of ``reference`` (an
    array, or a Tensor's): itself when ``reference`` is NumPy's, else that namespace's ``asarray`` of it (a copy
    to the GPU for CuPy)."""
    reference = values_of(reference)
    if not is_foreign(reference) or is_foreign(x):
        return x
    return namespace_of(reference).asarray(x, device=_compat().device(reference))


def values_of(x: Any) -> Any:
    """The array behind ``x``: a Tensor's data (in a recorded backward, ops see Tensors), else ``x``."""
    data = getattr(x, "_data", None) if not isinstance(x, _NUMPY_TYPES) else None
    return x if data is None else data


def constant(reference: Any, value: Any, shape: tuple = (), dtype: Any = None) -> Any:
    """An array of ``shape`` filled with ``value``, of ``reference``'s dtype (or ``dtype``), in its library and
    on its device: the constants of a backward (a zero, a one, a mask of ones) for an array or a Tensor of
    any library. A NumPy constant beside a GPU's Tensor would be refused as on another device."""
    data = values_of(reference)
    if is_foreign(data):
        xp = namespace_of(data)
        return xp.full(shape, value, dtype=data.dtype if dtype is None else _their(xp, dtype),
                       device=_compat().device(data))
    return np.full(shape, value, dtype=data.dtype if dtype is None else dtype)


def eye(reference: Any, n: int, m: int | None = None, dtype: Any = None) -> Any:
    """The identity (n, m) of ``reference``'s dtype (or ``dtype``: ``bool`` for a mask), library and device."""
    data = values_of(reference)
    if is_foreign(data):
        xp = namespace_of(data)
        return xp.eye(n, m, dtype=data.dtype if dtype is None else _their(xp, dtype), device=_compat().device(data))
    return np.eye(n, m, dtype=data.dtype if dtype is None else dtype)


def _their(xp: ModuleType, dtype: Any) -> Any:
    """A dtype as ``xp`` spells it: ``bool`` and NumPy's dtypes become the namespace's own."""
    return xp.bool if dtype is bool else getattr(xp, np.dtype(dtype).name) if isinstance(dtype, (type, np.dtype)) \
        else dtype


def gather(x: Any, positions: np.ndarray) -> Any:
    """``x.reshape(-1)[positions]`` for a foreign ``x``, shaped like ``positions`` (host integers).

    The standard's indexing takes integer arrays only with integers beside them; any NumPy index
    (slices, masks, new axes among arrays) is first turned into the flat positions it selects, on the
    host, and then one ``take`` gathers them on ``x``'s device."""
    xp = namespace_of(x)
    flat = xp.take(xp.reshape(x, (-1,)), like(positions.reshape(-1), x))
    return xp.reshape(flat, positions.shape)


def scatter_add(values: Any, positions: np.ndarray, size: int) -> Any:
    """A flat foreign array of ``size`` zeros with ``values`` added at ``positions`` (host integers, the
    shape of ``values``); positions named twice get the sum, as ``numpy.add.at``.

    CuPy has its scatter (``cupyx.scatter_add``). The standard has none, so elsewhere the sum is made
    of gathers only: the k-th occurrence of every position is gathered in pass k (a position without
    one gathers a zero), the passes are added, and one last gather spreads the sums over ``size``
    places. Exact, in the order ``add.at`` adds; the passes are as many as the most repeated position.
    """
    xp = namespace_of(values)
    flat_values = xp.reshape(values, (-1,))
    positions = positions.reshape(-1).astype(np.intp, copy=False)
    if type(values).__module__.split(".")[0] == "cupy":
        import cupyx

        out = xp.zeros((size,), dtype=values.dtype, device=_compat().device(values))
        cupyx.scatter_add(out, like(positions, values), flat_values)
        return out
    m = positions.size
    order = np.argsort(positions, kind="stable")  # occurrences of one position together, in order
    unique, first, counts = np.unique(positions[order], return_index=True, return_counts=True)
    padded = xp.concat([flat_values, xp.zeros((1,), dtype=values.dtype, device=_compat().device(values))])
    sums = None
    for k in range(int(counts.max()) if m else 0):
        pick = np.where(counts > k, order[np.minimum(first + k, m - 1)], m)  # m: the padded zero
        term = xp.take(padded, like(pick, values))
        sums = term if sums is None else sums + term
    spread = np.full(size, unique.size, dtype=np.intp)
    spread[unique] = np.arange(unique.size)
    tail = xp.zeros((1,), dtype=values.dtype, device=_compat().device(values))
    return xp.take(tail if sums is None else xp.concat([sums, tail]), like(spread, values))


def put(x: Any, positions: np.ndarray, values: Any) -> Any:
    """A copy of the foreign ``x`` with ``values`` (broadcast to the shape of ``positions``) written at the flat
    ``positions`` (host integers); where a position is named twice the last write wins, as NumPy's
    ``x[index] = values``. The standard has no setitem with integer arrays: one gather does it."""
    xp = namespace_of(x)
    size, m = int(np.prod(x.shape)), positions.size
    v = values if is_foreign(values) else xp.asarray(values, dtype=x.dtype, device=_compat().device(x))
    v = xp.reshape(xp.broadcast_to(xp.astype(v, x.dtype), positions.shape), (-1,))
    source = np.arange(size, dtype=np.intp)
    source[positions.reshape(-1)] = size + np.arange(m)  # NumPy's assignment: the last occurrence stays
    flat = xp.take(xp.concat([xp.reshape(x, (-1,)), v]), like(source, x))
    return xp.reshape(flat, tuple(x.shape))


__all__ = ["namespace", "is_foreign", "namespace_of", "device_name", "check_device", "to_device", "to_numpy",
           "cupy", "elementwise", "cast", "reshaped", "transposed", "like", "numpy_dtype", "xp_of", "masked",
           "gather", "scatter_add", "put", "values_of", "constant", "eye"]
