"""Задание 2: линейная регрессия, обученная на ваших блоках: градиентным спуском, затем SGD.

Граф из лекции: mu = X theta, delta = mu - Y, L = sum(delta ** 2); цель — dL/dtheta.
Этот файл импортирует ваши блоки из ``blocks.py`` рядом с ним (задание 1): экземпляр блока
используется в одном проходе, поэтому для каждого прямого прохода создавайте новые.
Замените каждый ``raise NotImplementedError`` своим кодом и запустите
``chainrule exercise check linreg.py --lang ru``.
"""

import numpy as np
from blocks import MatMul, Square, Sub, Sum  # noqa: F401 - ваши блоки из задания 1


def loss_and_gradient(theta, X, Y):
    """L = sum((X theta - Y) ** 2) и dL/dtheta, вычисленные вашими блоками.

    Прямой проход через MatMul, Sub, Square и Sum (каждый блок хранит свой cache), затем
    обратный проход в обратном порядке, начиная с dL/dL = 1.
    Формы: theta (d,), X (n, d), Y (n,) -> (L — число; dtheta (d,)).
    """
    raise NotImplementedError("loss_and_gradient")


def gradient_descent(X, Y, lr, steps, rng):
    """theta ~ N(0, 1) (``rng.standard_normal(d)``, как в лекции), затем ``steps`` шагов
    theta <- theta - lr * dL/dtheta по всей выборке.  Возвращает theta (d,)."""
    raise NotImplementedError("gradient_descent")


def sgd(X, Y, lr, epochs, batch_size, rng):
    """SGD по мини-батчам: theta ~ N(0, 1) из ``rng``, затем в каждой эпохе объекты в новом
    случайном порядке (``rng.permutation(n)``), разрезанные на мини-батчи по ``batch_size``
    (последний может быть меньше); для каждого батча B: theta <- theta - lr * (n / |B|) * dL_B/dtheta,
    где L_B — сумма потерь по батчу (умноженный на n / |B|, это несмещённая оценка полного
    градиента: та самая случайная величина из лекции).  Возвращает theta (d,)."""
    raise NotImplementedError("sgd")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    Y = X @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.standard_normal(200)
    closed_form = np.linalg.lstsq(X, Y, rcond=None)[0]
    print("точное решение   ", closed_form)
    print("градиентный спуск", gradient_descent(X, Y, lr=1e-3, steps=500, rng=np.random.default_rng(1)))
    print("SGD              ", sgd(X, Y, lr=1e-3, epochs=30, batch_size=20, rng=np.random.default_rng(1)))
