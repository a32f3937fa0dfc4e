"""Задание 4: нелинейные активации и их локальные производные: ReLU, сигмоида, tanh.

Каждая — блок, как в задании 1: ``forward(x)`` сохраняет cache, ``backward(upstream)``
возвращает ``(dx,)``: upstream, поэлементно умноженный на локальную производную. Формы: любые.
Замените каждый ``raise NotImplementedError`` своим кодом и запустите
``chainrule exercise check activations.py --lang ru``.
"""

import numpy as np


class ReLU:
    """y = max(x, 0);  dy/dx = 1 там, где x > 0, иначе 0.  Cache: где x > 0 (или x)."""

    def forward(self, x):
        raise NotImplementedError("ReLU.forward")

    def backward(self, upstream):
        raise NotImplementedError("ReLU.backward")


class Sigmoid:
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y).  Cache: y.

    Держите значения конечными при больших |x| (exp(1000) переполняется): для x < 0
    используйте exp(x) / (1 + exp(x)).
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
        print(type(block).__name__, np.round(y, 3), "производная", np.round(dx, 3))
