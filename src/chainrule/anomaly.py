"""``detect_anomaly``: find the op where a NaN or an infinity first appeared, and any saved
value changed behind the graph's back.

Inside ``with chainrule.detect_anomaly():`` every recorded op also keeps

* where it was called (the first frame outside chainrule: ``file:line in function``),
* a fingerprint (a hash of the bytes) of every array it saved for backward,

and the first NaN or infinity an op produces raises :class:`GraphError` at once, naming
the op, whether it came out of its forward or its backward, the statistics of what went
in (shape, min, max, NaN or infinity present) and where the op was called. Before each
node's backward, the saved arrays are hashed again: a change made by any means, a write
into a NumPy array held elsewhere included, raises with the op, the saved value, its
shape and the call site.

It is off by default and costs nothing then: :data:`ACTIVE` counts the threads inside
the context, and the record path and the engine only look further when it is not zero.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from numpy import ndarray

from .errors import GraphError

#: How many ``detect_anomaly`` contexts are open, in any thread (read on every recorded op).
ACTIVE = [0]
_COUNTING = threading.Lock()  # ``ACTIVE[0] += 1`` is a read and a write: threads take turns
_enabled: ContextVar[bool] = ContextVar("chainrule_detect_anomaly", default=False)
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: The op whose backward is being recorded (``create_graph=True``), for the messages of the ops it records.
RECORDING_FOR: ContextVar = ContextVar("chainrule_recording_for", default=None)


@contextmanager
def detect_anomaly():
    """Context manager: the first NaN or Inf produced in forward or backward raises, naming the op,
    and a value an op saved that changed before backward raises too (see the module's text).

    >>> with detect_anomaly():
    ...     loss = model(x).log().sum()      # raises at the op that made the first NaN
    ...     loss.backward()
    """
    token = _enabled.set(True)
    with _COUNTING:
        ACTIVE[0] += 1
    try:
        yield
    finally:
        with _COUNTING:
            ACTIVE[0] -= 1
        _enabled.reset(token)


def is_anomaly_enabled() -> bool:
    """Whether this thread is inside :func:`detect_anomaly`."""
    return _enabled.get()


def enabled() -> bool:
    """Cheap test first (any thread at all?), then this thread's setting."""
    return ACTIVE[0] > 0 and _enabled.get()


def call_site() -> str:
    """``file:line in function`` of the nearest caller outside the chainrule package."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    if frame is None:
        return "inside chainrule"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def fingerprints(saved) -> tuple | None:
    """A hash of each array in an op's saved values (None for the other values)."""
    if type(saved) is not tuple:
        return None
    return tuple(_digest(v) if isinstance(v, ndarray) else None for v in saved)


def _digest(array: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


def check_saved(op, prints: tuple | None, site: str | None) -> None:
    """Raise if an array ``op`` saved no longer hashes as it did when it was saved."""
    from .inplace import changed_message

    if prints is None or type(op.saved) is not tuple:
        return
    for position, (value, before) in enumerate(zip(op.saved, prints)):
        if before is not None and _digest(value) != before:
            raise GraphError(changed_message(op, position, value, "was changed (its bytes differ)", site))


def check_forward(op, inputs: list, out: np.ndarray, site: str) -> None:
    """Raise if ``op``'s forward produced a NaN or an infinity."""
    if _finite(out):
        return
    recording = RECORDING_FOR.get()
    where = (f", recorded by the backward of {recording.describe()} (create_graph=True) called"
             if recording is not None else "")
    raise GraphError(
        f"detect_anomaly: {op.describe()} produced {_what(out)} in its forward{where}, at {site}. "
        f"Its inputs: {_stats(inputs)}."
    )


def check_backward(op, upstream: np.ndarray, grads: tuple, site: str | None) -> None:
    """Raise if ``op``'s backward returned a NaN or an infinity (for any input)."""
    for position, g in enumerate(grads):
        if g is not None and not _finite(g):
            where = f"the op was called at {site}" if site else "the op was recorded outside detect_anomaly"
            raise GraphError(
                f"detect_anomaly: {op.describe()} produced {_what(g)} in its backward, in the gradient for "
                f"input {position}; {where}. The upstream gradient: {_stats([upstream])}; the values it "
                f"saved: {_stats(list(op.saved) if type(op.saved) is tuple else [])}."
            )


def _finite(value) -> bool:
    a = np.asarray(value)
    return a.dtype.kind not in "fc" or bool(np.isfinite(a).all())


def _what(value) -> str:
    a = np.asarray(value)
    kinds = [name for name, found in (("NaN", np.isnan(a).any()), ("infinity", np.isinf(a).any())) if found]
    return " and ".join(kinds) or "a non-finite value"


def _stats(values: list) -> str:
    parts = []
    for i, v in enumerate(values):
        if not isinstance(v, (ndarray, np.generic, float, int)) or isinstance(v, bool):
            continue
        a = np.asarray(v)
        if a.dtype.kind not in "fciu" or a.size == 0:
            parts.append(f"#{i} shape {a.shape}")
            continue
        with np.errstate(all="ignore"):
            finite = a[np.isfinite(a)] if a.dtype.kind in "fc" else a
            low = float(finite.min()) if finite.size else float("nan")
            high = float(finite.max()) if finite.size else float("nan")
        flags = [name for name, found in (("NaN", a.dtype.kind in "fc" and np.isnan(a).any()),
                                          ("Inf", a.dtype.kind in "fc" and np.isinf(a).any())) if found]
        parts.append(f"#{i} shape {a.shape} min {low:.4g} max {high:.4g}" + (f" with {'/'.join(flags)}" if flags
                                                                                 else ""))
    return "; ".join(parts) or "none"
