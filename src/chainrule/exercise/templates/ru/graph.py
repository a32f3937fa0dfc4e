"""Задание 3: сам обратный проход на маленьком графе из чисел.

``Value`` запоминает, как получено каждое число (его родителей и операцию). Сложение и
квадрат уже написаны; напишите правило обратного прохода для умножения, топологический
порядок и обратный проход. Значение, входящее в несколько путей, получает сумму их
градиентов, поэтому каждое правило прибавляет (+=) к ``grad`` родителей.
Замените каждый ``raise NotImplementedError`` своим кодом и запустите
``chainrule exercise check graph.py --lang ru``.
"""


class Value:
    """Число в графе: ``data``, ``grad`` (dRoot/dValue, 0 до обратного прохода), ``parents``
    (значения, из которых оно вычислено), ``op`` и ``_backward`` (передаёт ``grad`` родителям)."""

    def __init__(self, data, parents=(), op=""):
        self.data = float(data)
        self.grad = 0.0
        self.parents = tuple(parents)
        self.op = op
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # локальные производные 1 и 1: обоим upstream x 1
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

        def _backward():  # локальная производная 2 x
            self.grad += 2.0 * self.data * out.grad

        out._backward = _backward
        return out

    def __repr__(self):
        return f"Value({self.data}, grad={self.grad})"


def topological_order(root):
    """Все значения, от которых зависит ``root``, и ``root`` последним; каждое значение после
    всех своих родителей.

    Обходите граф без рекурсии (цепочка из 10 000 значений должна работать) и включайте каждое
    значение один раз, сколько бы путей к нему ни вело.
    """
    raise NotImplementedError("topological_order")


def backward(root):
    """Положите ``root.grad = 1``, затем вызовите ``_backward`` каждого значения от ``root`` вниз,
    в обратном топологическом порядке: каждое значение получает весь свой градиент до того,
    как передаёт его дальше."""
    raise NotImplementedError("backward")


if __name__ == "__main__":
    # Второй пример лекции: E = A + B входит в два пути, H = E ** 2 + E * C.
    A, B, C = Value(1.0), Value(2.0), Value(4.0)
    E = A + B
    H = E.square() + E * C
    backward(H)
    print("H =", H.data, " dH/dA =", A.grad, "(2E + C = 10)", " dH/dC =", C.grad, "(E = 3)")
