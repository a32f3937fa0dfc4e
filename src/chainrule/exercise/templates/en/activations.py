"""Exercise 4: non-linear activations and their local derivatives: ReLU, sigmoid, tanh.

Each is a block as in exercise 1: ``forward(x)`` saves its cache, ``backward(upstream)``
returns ``(dx,)``, the upstream times the local derivative, elementwise. Shapes: any.
Replace every ``raise NotImplementedError`` with your code, then run
``chainrule exercise check activations.py``.
"""

import numpy as np


class ReLU:
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0.  Cache: where x > 0 (or x)."""

    def forward(self, x):
        raise NotImplementedError("ReLU.forward")

    def backward(self, upstream):
        raise NotImplementedError("ReLU.backward")


class Sigmoid:
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y).  Cache: y.

    Keep it finite for large |x| (exp(1000) overflows): for x < 0, use exp(x) / (1 + exp(x)).
    """

    def forward(self, x):
        raise NotImplementedError("Sigmoid.forward")

    def backward(self, upstream):
        raise NotImplementedError("Sigmoid.backward")


class Tanh:
    """y = tanh(x);  dy/dx = 1 - y ** 2.  Cache: y."""

    def forward(self, x):
        raise NotImplementedError("Tanh.forward")

    def backward(self, upstream):
        raise NotImplementedError("Tanh.backward")


if __name__ == "__main__":
    x = np.linspace(-3, 3, 7)
    for block in (ReLU(), Sigmoid(), Tanh()):
        y = block.forward(x)
        (dx,) = block.backward(np.ones_like(y))
        print(type(block).__name__, np.round(y, 3), "derivative", np.round(dx, 3))
