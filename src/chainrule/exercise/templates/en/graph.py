"""Exercise 3: the backward pass itself, on a tiny graph of numbers.

``Value`` records how each number was made (its parents and the operation). Addition and the
square are written for you; write the backward rule of multiplication, the topological order
and the backward pass. A value that feeds several paths gets the sum of their gradients, so
every rule adds (+=) to its parents' ``grad``.
Replace every ``raise NotImplementedError`` with your code, then run
``chainrule exercise check graph.py``.
"""


class Value:
    """A number in the graph: ``data``, ``grad`` (dRoot/dValue, 0 until backward), ``parents``
    (the values it was computed from), ``op`` and ``_backward`` (passes ``grad`` to the parents)."""

    def __init__(self, data, parents=(), op=""):
        self.data = float(data)
        self.grad = 0.0
        self.parents = tuple(parents)
        self.op = op
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # local derivatives 1 and 1: upstream x 1 to both
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other if isinstance(other, Value) else Value(-other))

    def __mul__(self, other):
        """out = self * other;  d out/d self = other, d out/d other = self."""
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            raise NotImplementedError("Value.__mul__ backward")

        out._backward = _backward
        return out

    __rmul__ = __mul__

    def square(self):
        out = Value(self.data ** 2, (self,), "square")

        def _backward():  # local derivative 2 x
            self.grad += 2.0 * self.data * out.grad

        out._backward = _backward
        return out

    def __repr__(self):
        return f"Value({self.data}, grad={self.grad})"


def topological_order(root):
    """Every value ``root`` depends on, ``root`` last, each value after all of its parents.

    Walk the graph without recursion (a chain of 10,000 values must work) and list each value
    once, however many paths lead to it.
    """
    raise NotImplementedError("topological_order")


def backward(root):
    """Set ``root.grad = 1``, then call ``_backward`` of every value from ``root`` down, in the
    reverse topological order, so each value has all of its gradient before passing it on."""
    raise NotImplementedError("backward")


if __name__ == "__main__":
    # The lecture's second example: E = A + B feeds two paths, H = E ** 2 + E * C.
    A, B, C = Value(1.0), Value(2.0), Value(4.0)
    E = A + B
    H = E.square() + E * C
    backward(H)
    print("H =", H.data, " dH/dA =", A.grad, "(2E + C = 10)", " dH/dC =", C.grad, "(E = 3)")
