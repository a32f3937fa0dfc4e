"""Hooks: functions that see a gradient (``Tensor.register_hook``) or a module's output
(``Module.register_forward_hook``) and may replace it, and the handles that remove them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class HookHandle:
    """What ``register_hook`` returns: ``remove()`` takes the hook away."""

    def __init__(self, hooks: list, hook: Callable):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def run_hooks(hooks: list, grad: np.ndarray) -> np.ndarray:
    """Each hook in turn sees the gradient and may replace it."""
    for hook in list(hooks):
        replaced = hook(grad)
        if replaced is not None:
            grad = np.asarray(getattr(replaced, "_data", replaced))
    return grad
