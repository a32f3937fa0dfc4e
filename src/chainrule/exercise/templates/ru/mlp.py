"""Задание 6: двухслойная сеть, обученная на рукописных цифрах на ваших собственных блоках.

x -> Linear -> ReLU -> Linear -> softmax с кросс-энтропией. Этот файл импортирует ``ReLU`` из
``activations.py`` (задание 4) и ``SoftmaxCrossEntropy`` из ``softmax.py`` (задание 5) рядом с
ним; напишите блок Linear и цикл обучения.
Замените каждый ``raise NotImplementedError`` своим кодом и запустите
``chainrule exercise check mlp.py --lang ru``.
"""

import numpy as np
from activations import ReLU  # noqa: F401 - ваш блок из задания 4
from softmax import SoftmaxCrossEntropy  # noqa: F401 - ваш блок из задания 5


class Linear:
    """y = x @ W.T + b.  Формы: x (n, i), W (o, i), b (o,) -> y (n, o).

    Cache: x и W.  backward(upstream (n, o)) -> (dx (n, i), dW (o, i), db (o,)).
    """

    def forward(self, x, W, b):
        raise NotImplementedError("Linear.forward")

    def backward(self, upstream):
        raise NotImplementedError("Linear.backward")


def init_params(sizes, rng):
    """[(W, b), ...] для размеров слоёв вроде [64, 32, 10]: W ~ N(0, 2 / fan_in) (He), b = 0."""
    return [(rng.standard_normal((o, i)) * np.sqrt(2.0 / i), np.zeros(o)) for i, o in zip(sizes[:-1], sizes[1:])]


def train(X, y, hidden, lr, epochs, batch_size, rng):
    """Обучите x -> Linear -> ReLU -> Linear -> softmax с кросс-энтропией SGD по мини-батчам.

    ``init_params([d, hidden, k], rng)``, где k = y.max() + 1 классов; в каждой эпохе объекты в
    новом случайном порядке (``rng.permutation(n)``), мини-батчи по ``batch_size``; для каждого —
    прямой проход с новыми блоками, обратный проход от dL/dL = 1 и W <- W - lr * dW,
    b <- b - lr * db для обоих слоёв.
    Формы: X (n, d), y (n,) целые -> [(W1 (hidden, d), b1 (hidden,)), (W2 (k, hidden), b2 (k,))].
    """
    raise NotImplementedError("train")


def predict(params, X):
    """Класс каждой строки X (n, d): argmax выходов сети -> (n,) целые."""
    raise NotImplementedError("predict")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    order = np.random.default_rng(0).permutation(len(X))
    train_rows, test_rows = order[:1347], order[1347:]
    params = train(X[train_rows], y[train_rows], hidden=32, lr=0.1, epochs=20, batch_size=32,
                   rng=np.random.default_rng(0))
    print("точность на тесте", np.mean(predict(params, X[test_rows]) == y[test_rows]))
