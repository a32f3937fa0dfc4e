"""Exercise 2: linear regression trained with your blocks, by gradient descent and then by SGD.

The lecture's graph: mu = X theta, delta = mu - Y, L = sum(delta ** 2); the goal is dL/dtheta.
This file imports your blocks from ``blocks.py`` beside it (exercise 1): a block instance
is used once per pass, so make new ones for every forward pass.
Replace every ``raise NotImplementedError`` with your code, then run
``chainrule exercise check linreg.py``.
"""

import numpy as np
from blocks import MatMul, Square, Sub, Sum  # noqa: F401 - your blocks of exercise 1


def loss_and_gradient(theta, X, Y):
    """L = sum((X theta - Y) ** 2) and dL/dtheta, computed with your blocks.

    Forward through MatMul, Sub, Square and Sum (each block keeps its cache), then backward in
    the reverse order, starting from dL/dL = 1.
    Shapes: theta (d,), X (n, d), Y (n,) -> (L, a float; dtheta (d,)).
    """
    raise NotImplementedError("loss_and_gradient")


def gradient_descent(X, Y, lr, steps, rng):
    """theta ~ N(0, 1) (``rng.standard_normal(d)``, as the lecture starts), then ``steps`` steps
    theta <- theta - lr * dL/dtheta on the whole data set.  Returns theta (d,)."""
    raise NotImplementedError("gradient_descent")


def sgd(X, Y, lr, epochs, batch_size, rng):
    """Mini-batch SGD: theta ~ N(0, 1) from ``rng``, then every epoch the objects in a new random
    order (``rng.permutation(n)``), cut into mini-batches of ``batch_size`` (the last may be
    smaller); for each batch B, theta <- theta - lr * (n / |B|) * dL_B/dtheta, where L_B is the
    loss summed over the batch (times n / |B| it is an unbiased estimate of the full gradient:
    the lecture's random variable).  Returns theta (d,)."""
    raise NotImplementedError("sgd")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    Y = X @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.standard_normal(200)
    closed_form = np.linalg.lstsq(X, Y, rcond=None)[0]
    print("closed form      ", closed_form)
    print("gradient descent ", gradient_descent(X, Y, lr=1e-3, steps=500, rng=np.random.default_rng(1)))
    print("SGD              ", sgd(X, Y, lr=1e-3, epochs=30, batch_size=20, rng=np.random.default_rng(1)))
