"""In-place changes, and the check that what an op saved for backward is still what it saved.

An op saves arrays for its backward (its inputs, its output). If one of them is changed
in place before backward runs, the gradient computed from it is wrong, silently. The
graph therefore keeps a clock: every in-place write that chainrule makes or sees
(``Tensor.add_`` and the other in-place methods, ``t[i] = v``, an optimiser's step,
``Module.load_state_dict``) stamps the array it wrote (by the array that owns the memory,
so a write through a view counts), and every node remembers the time it was made.
Before a node's backward runs, the engine checks it only if something was written since
the node was made, and then raises :class:`GraphError` for any saved array written after
it was saved, naming the op, the saved value and its shape.

The clock costs one read per recorded op and nothing at all in backward while nothing is
written; a training loop writes its parameters after backward and before the next
forward, so its nodes are never checked. Writes that chainrule cannot see (an ndarray a
user keeps and writes into, ``t.data[...] = v`` on a leaf) are caught by
:func:`chainrule.detect_anomaly`, which fingerprints every saved array (see
:mod:`chainrule.anomaly`); the data of an op's result cannot be written through
``Tensor.data`` while the graph that holds it is alive.

Why a clock rather than NumPy's read-only flag on every saved array (or on every result):
setting and restoring the flag costs more than a tiny op itself (+38 % on the tiny-op
benchmark for saved arrays, +13 % for results, against +2.3 % for the clock), and it would
make a user's own array read-only behind their back. Measurements: ``benchmarks/README.md``,
"Trust: what the checks cost".
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from operator import is_

import numpy as np
from numpy import ndarray

from . import anomaly
from .backend import is_foreign
from .errors import GraphError

#: The clock: how many writes have been stamped. Nodes read ``CLOCK[0]`` when they are made.
CLOCK = [0]
#: ``id(owner array) -> time of its last write``, and a weak reference to that array whose
#: callback forgets the entry when the array goes (an id is reused only after that).
_STAMPS: dict[int, int] = {}
_OWNERS: dict[int, weakref.ref] = {}
#: Stamping is made of several steps (tick, then write the stamps); threads take turns.
_STAMPING = threading.Lock()


def owner(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (``array`` itself, or the base of a view; for another
    library's array, its ``base`` where it keeps one, as CuPy does)."""
    base = getattr(array, "base", None)
    return base if type(base) is type(array) else array


def _watched(array) -> bool:
    """Arrays whose writes are stamped: NumPy's, and another library's (a GPU's)."""
    return isinstance(array, ndarray) or is_foreign(array)


def _forget(ref: weakref.ref, key: int) -> None:
    """The weak reference's callback: the array stamped under ``key`` is gone."""
    if _OWNERS.get(key) is ref:
        _OWNERS.pop(key, None)
        _STAMPS.pop(key, None)


def _register(root: np.ndarray) -> int:
    """The key of ``root`` (an owner array) in the stamps, registering it if new."""
    key = id(root)
    ref = _OWNERS.get(key)
    if ref is None or ref() is not root:
        _OWNERS[key] = weakref.ref(root, functools.partial(_forget, key=key))
    return key


def mark_written(*arrays) -> None:
    """Stamp each of ``arrays`` (arrays of any library; anything else is ignored) as written now."""
    with _STAMPING:
        CLOCK[0] = now = CLOCK[0] + 1
        for array in arrays:
            if _watched(array):
                _STAMPS[_register(owner(array))] = now


class RepeatedStamp:
    """Stamps the same arrays again and again (an optimiser's parameters, once a step), cheaply.

    ``stamp(arrays)`` (ndarrays) is :func:`mark_written` ``(*arrays)``; while they are the very
    arrays of the last call (the common case: a parameter's data is replaced rarely), it skips
    the per-array bookkeeping and writes all the stamps in one dict update.
    """

    __slots__ = ("_arrays", "_keys")

    def __init__(self) -> None:
        self._arrays: list = []
        self._keys: tuple[int, ...] = ()

    def stamp(self, arrays: list) -> None:
        if len(arrays) == len(self._arrays) and all(map(is_, arrays, self._arrays)):
            with _STAMPING:
                CLOCK[0] = now = CLOCK[0] + 1
                _STAMPS.update(dict.fromkeys(self._keys, now))
            return
        if not all(isinstance(a, ndarray) for a in arrays):
            arrays = [a for a in arrays if _watched(a)]
        mark_written(*arrays)  # registers each owner (and its weak reference) for the fast path
        self._arrays = list(arrays)  # held, so their owners stay registered under these ids
        self._keys = tuple(id(owner(a)) for a in arrays)


def overwrite(tensor, values) -> None:
    """chainrule's own write of new values into a parameter (an initialiser, ``load_state_dict``,
    ``set_theta``): read-only data (a skeleton's, a shared array's) is first replaced by a
    writeable copy; ``values`` are cast as NumPy's ``same_kind`` allows, broadcast, written,
    and the array is stamped after the write (a graph that saved the old values refuses them)."""
    if not tensor._data.flags.writeable:
        tensor._data = tensor._data.copy()
    np.copyto(tensor._data, values, casting="same_kind")
    mark_written(tensor._data)


def written_after(array, time: int) -> bool:
    """Whether ``array``'s memory was written (through chainrule) after ``time``."""
    if not _watched(array):
        return False
    root = owner(array)
    key = id(root)
    return _STAMPS.get(key, 0) > time and _OWNERS[key]() is root


def check_unchanged(op, time: int, site: str | None = None) -> None:
    """Raise :class:`GraphError` if an array ``op`` saved (at ``time``) was written since.

    ``site`` is where the op was called in forward, when it was recorded (under
    :func:`chainrule.detect_anomaly`).
    """
    saved = op.saved
    if type(saved) is not tuple:
        return
    for position, value in enumerate(saved):
        if written_after(value, time):
            raise GraphError(changed_message(op, position, value, "was changed in place", site))


def changed_message(op, position: int, value: np.ndarray, what: str, site: str | None) -> str:
    """The error for a saved value changed before backward: which op, which value, its shape, where."""
    names = op.saves
    name = names[position] if position < len(names) else f"#{position}"
    role = "output" if name == "out" else "input" if name in _forward_inputs(op) else "value"
    where = f"called at {site}" if site else "run under chainrule.detect_anomaly() to see where it was called"
    return (
        f"{op.name} saved its {role} {name!r} (shape {tuple(np.shape(value))}) for backward, and it {what} "
        f"before backward ran ({op.describe()}, {where}); the gradient would be wrong. Change a copy, or "
        f"compute the forward again after the change."
    )


def _forward_inputs(op) -> list[str]:
    return list(inspect.signature(type(op).forward).parameters)[1:]


def check_saved(node, anomalous: bool) -> None:
    """Raise if a value the node's op saved was written after the node was made (or, under
    :func:`chainrule.detect_anomaly`, changed in any way)."""
    site = getattr(node, "site", None)
    check_unchanged(node.op, node.stamp, site)
    if anomalous:
        anomaly.check_saved(node.op, getattr(node, "prints", None), site)


def lock(node, array: np.ndarray) -> None:
    """Make ``array`` (the output of ``node``'s op) read-only until backward frees ``node``, or
    ``node`` goes: the graph may still need it."""
    array.flags.writeable = False
    node.locked = (array, weakref.finalize(node, _writeable, array))


def unlock(node) -> None:
    """Make the array :func:`lock` protected writeable again (backward has freed ``node``)."""
    array, finalizer = node.locked
    finalizer.detach()
    node.locked = None
    _writeable(array)


#: Views whose base was still locked when their own lock went: ``id(base) -> [views]``, made
#: writeable when the base is (a view cannot be writeable while its base is read-only).
_WAITING: dict[int, list[np.ndarray]] = {}


def _writeable(array: np.ndarray) -> None:
    try:
        array.flags.writeable = True
    except ValueError:  # a view of another live result, whose lock goes later in backward
        _WAITING.setdefault(id(owner(array)), []).append(array)
        return
    for view in _WAITING.pop(id(array), ()):
        _writeable(view)
