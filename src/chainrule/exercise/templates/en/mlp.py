"""Exercise 6: a two-layer network trained on the handwritten digits with your own blocks.

x -> Linear -> ReLU -> Linear -> softmax cross-entropy. This file imports ``ReLU`` from
``activations.py`` (exercise 4) and ``SoftmaxCrossEntropy`` from ``softmax.py`` (exercise 5)
beside it; write the Linear block and the training loop.
Replace every ``raise NotImplementedError`` with your code, then run
``chainrule exercise check mlp.py``.
"""

import numpy as np
from activations import ReLU  # noqa: F401 - your block of exercise 4
from softmax import SoftmaxCrossEntropy  # noqa: F401 - your block of exercise 5


class Linear:
    """y = x @ W.T + b.  Shapes: x (n, i), W (o, i), b (o,) -> y (n, o).

    Cache: x and W.  backward(upstream (n, o)) -> (dx (n, i), dW (o, i), db (o,)).
    """

    def forward(self, x, W, b):
        raise NotImplementedError("Linear.forward")

    def backward(self, upstream):
        raise NotImplementedError("Linear.backward")


def init_params(sizes, rng):
    """[(W, b), ...] for layer sizes such as [64, 32, 10]: W ~ N(0, 2 / fan_in) (He), b = 0."""
    return [(rng.standard_normal((o, i)) * np.sqrt(2.0 / i), np.zeros(o)) for i, o in zip(sizes[:-1], sizes[1:])]


def train(X, y, hidden, lr, epochs, batch_size, rng):
    """Train x -> Linear -> ReLU -> Linear -> softmax cross-entropy by mini-batch SGD.

    ``init_params([d, hidden, k], rng)`` with k = y.max() + 1 classes; every epoch, the objects
    in a new random order (``rng.permutation(n)``), mini-batches of ``batch_size``; for each,
    the forward pass with new blocks, the backward pass from dL/dL = 1, and W <- W - lr * dW,
    b <- b - lr * db for both layers.
    Shapes: X (n, d), y (n,) integers -> [(W1 (hidden, d), b1 (hidden,)), (W2 (k, hidden), b2 (k,))].
    """
    raise NotImplementedError("train")


def predict(params, X):
    """The class of every row of X (n, d): the argmax of the network's outputs -> (n,) integers."""
    raise NotImplementedError("predict")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    order = np.random.default_rng(0).permutation(len(X))
    train_rows, test_rows = order[:1347], order[1347:]
    params = train(X[train_rows], y[train_rows], hidden=32, lr=0.1, epochs=20, batch_size=32,
                   rng=np.random.default_rng(0))
    print("test accuracy", np.mean(predict(params, X[test_rows]) == y[test_rows]))
