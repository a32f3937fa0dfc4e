"""Задание 1: блоки линейной регрессии из лекции: MatMul, Sub, Square, Sum и Identity.

Каждый блок — независимый «кубик» с двумя методами:

* ``forward(*inputs)`` (прямой проход) вычисляет результат и сохраняет в ``self.cache`` ровно
  то, что понадобится обратному проходу (и ничего лишнего);
* ``backward(upstream)`` (обратный проход) принимает upstream-градиент (градиент функции
  потерь по выходу блока, той же формы, что и выход), умножает его на локальную производную
  и возвращает кортеж: по одному градиенту на каждый вход, той же формы, что и вход.

backward не должен изменять ``upstream``, и у каждого экземпляра блока свой cache.
Замените каждый ``raise NotImplementedError`` своим кодом и запустите
``chainrule exercise check blocks.py --lang ru``.
"""

import numpy as np


class MatMul:
    """mu = X @ theta.  Формы: X (n, d), theta (d,) -> mu (n,).

    Cache: X и theta (градиент по каждому из них — другой, умноженный на upstream).
    backward(upstream (n,)) -> (dX (n, d), dtheta (d,)).
    """

    def forward(self, X, theta):
        raise NotImplementedError("MatMul.forward")

    def backward(self, upstream):
        raise NotImplementedError("MatMul.backward")


class Sub:
    """delta = mu - Y.  Формы: mu (n,), Y (n,) -> delta (n,).

    Cache: ничего не нужно (локальные производные равны +1 и -1).
    backward(upstream (n,)) -> (dmu (n,), dY (n,)).
    """

    def forward(self, mu, Y):
        raise NotImplementedError("Sub.forward")

    def backward(self, upstream):
        raise NotImplementedError("Sub.backward")


class Square:
    """s = delta ** 2, поэлементно.  Формы: delta (n,) -> s (n,).

    Cache: delta (локальная производная равна 2 * delta).
    backward(upstream (n,)) -> (ddelta (n,),).
    """

    def forward(self, delta):
        raise NotImplementedError("Square.forward")

    def backward(self, upstream):
        raise NotImplementedError("Square.backward")


class Sum:
    """L = сумма всех элементов s.  Формы: s (n,) -> L () (0-мерный массив или число).

    Cache: форма s (локальная производная равна 1 для каждого элемента).
    backward(upstream ()) -> (ds (n,),).
    """

    def forward(self, s):
        raise NotImplementedError("Sum.forward")

    def backward(self, upstream):
        raise NotImplementedError("Sum.backward")


class Identity:
    """y = x, тождественная активация линейной регрессии.  Формы: x (...) -> y (...).

    Cache: ничего (локальная производная равна 1).
    backward(upstream (...)) -> (dx (...),).
    """

    def forward(self, x):
        raise NotImplementedError("Identity.forward")

    def backward(self, upstream):
        raise NotImplementedError("Identity.backward")


if __name__ == "__main__":
    # Один блок вручную: forward сохраняет cache, backward умножает upstream на локальную производную.
    x = np.array([1.0, -2.0, 3.0])
    square = Square()
    print("Square.forward(x)  =", square.forward(x), "  ожидается x ** 2 =", x ** 2)
    print("Square.backward(1) =", square.backward(np.ones(3)), "  ожидается 2x =", 2 * x)
