"""Whether operations on Tensors are recorded in the graph: ``no_grad`` and ``enable_grad``."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

#: Whether operations on Tensors are recorded. A context variable: each thread (and each
#: asyncio task) has its own setting.
_grad_enabled: ContextVar[bool] = ContextVar("chainrule_grad_enabled", default=True)
grad_recording = _grad_enabled.get


def is_grad_enabled() -> bool:
    """Whether operations on Tensors are being recorded in this thread."""
    return _grad_enabled.get()


@contextmanager
def _set_grad_enabled(enabled: bool):
    token = _grad_enabled.set(enabled)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


def no_grad():
    """Context manager (thread-local): inside it no graph and no cache is kept.

    >>> with no_grad():
    ...     y = model(x)        # y.requires_grad is False
    """
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager that turns recording back on inside a ``no_grad`` block."""
    return _set_grad_enabled(True)


#: Whether a recorded backward pass (``create_graph=True``) is running in this thread: Tensors
#: that require grad then refuse to become plain arrays (``numpy.asarray(t)``), which would
#: silently cut the derivative being recorded.
_recording_backward: ContextVar[bool] = ContextVar("chainrule_recording_backward", default=False)
in_recorded_backward = _recording_backward.get


@contextmanager
def recording_backward():
    """Context of a recorded backward pass: operations are recorded (whatever ``no_grad`` said
    outside, as PyTorch's engine runs backward with grad mode set to ``create_graph``), and
    Tensors in the graph may not be turned into arrays."""
    token, token2 = _grad_enabled.set(True), _recording_backward.set(True)
    try:
        yield
    finally:
        _recording_backward.reset(token2)
        _grad_enabled.reset(token)
