"""Exercise 1: the lecture's blocks for linear regression, MatMul, Sub, Square, Sum and Identity.

Every block is an independent piece with two methods:

* ``forward(*inputs)`` computes the result and saves in ``self.cache`` exactly what backward
  will need (nothing more);
* ``backward(upstream)`` takes the upstream gradient (the gradient of the loss with respect
  to this block's output, the output's shape), multiplies it by the local derivative and
  returns a tuple with one gradient per input, each of that input's shape.

backward must not change ``upstream``, and each block instance keeps its own cache.
Replace every ``raise NotImplementedError`` with your code, then run
``chainrule exercise check blocks.py``.
"""

import numpy as np


class MatMul:
    """mu = X @ theta.  Shapes: X (n, d), theta (d,) -> mu (n,).

    Cache: X and theta (the gradient of each is the other times the upstream).
    backward(upstream (n,)) -> (dX (n, d), dtheta (d,)).
    """

    def forward(self, X, theta):
        raise NotImplementedError("MatMul.forward")

    def backward(self, upstream):
        raise NotImplementedError("MatMul.backward")


class Sub:
    """delta = mu - Y.  Shapes: mu (n,), Y (n,) -> delta (n,).

    Cache: nothing is needed (the local derivatives are +1 and -1).
    backward(upstream (n,)) -> (dmu (n,), dY (n,)).
    """

    def forward(self, mu, Y):
        raise NotImplementedError("Sub.forward")

    def backward(self, upstream):
        raise NotImplementedError("Sub.backward")


class Square:
    """s = delta ** 2, elementwise.  Shapes: delta (n,) -> s (n,).

    Cache: delta (the local derivative is 2 * delta).
    backward(upstream (n,)) -> (ddelta (n,),).
    """

    def forward(self, delta):
        raise NotImplementedError("Square.forward")

    def backward(self, upstream):
        raise NotImplementedError("Square.backward")


class Sum:
    """L = the sum of all elements of s.  Shapes: s (n,) -> L () (a 0-d array or a float).

    Cache: the shape of s (the local derivative is 1 for every element).
    backward(upstream ()) -> (ds (n,),).
    """

    def forward(self, s):
        raise NotImplementedError("Sum.forward")

    def backward(self, upstream):
        raise NotImplementedError("Sum.backward")


class Identity:
    """y = x, the identity activation of linear regression.  Shapes: x (...) -> y (...).

    Cache: nothing (the local derivative is 1).
    backward(upstream (...)) -> (dx (...),).
    """

    def forward(self, x):
        raise NotImplementedError("Identity.forward")

    def backward(self, upstream):
        raise NotImplementedError("Identity.backward")


if __name__ == "__main__":
    # One block by hand: forward keeps the cache, backward multiplies the upstream by the local derivative.
    x = np.array([1.0, -2.0, 3.0])
    square = Square()
    print("Square.forward(x)  =", square.forward(x), "  expected x ** 2 =", x ** 2)
    print("Square.backward(1) =", square.backward(np.ones(3)), "  expected 2x =", 2 * x)
