"""Задание 5: softmax с кросс-энтропией, функция потерь классификатора, одним блоком.

forward(logits, labels): p = softmax(logits) по строкам, L = среднее по n объектам от
-log p[i, labels[i]]. backward(upstream): dL/dlogits = upstream * (p - onehot(labels)) / n.
Замените каждый ``raise NotImplementedError`` своим кодом и запустите
``chainrule exercise check softmax.py --lang ru``.
"""

import numpy as np


class SoftmaxCrossEntropy:
    """L = mean_i -log softmax(logits)[i, labels[i]];  dL/dlogits = (softmax(logits) - onehot) / n.

    Формы: logits (n, k) — числа, labels (n,) — целые от 0 до k-1 -> L, число.
    Cache: вероятности p (n, k) и метки.
    backward(upstream — число, 1.0 для самой функции потерь) -> (dlogits (n, k), None): по меткам
    градиента нет. Держите значения конечными при логитах 1000: вычитайте максимум строки перед exp.
    """

    def forward(self, logits, labels):
        raise NotImplementedError("SoftmaxCrossEntropy.forward")

    def backward(self, upstream=1.0):
        raise NotImplementedError("SoftmaxCrossEntropy.backward")


if __name__ == "__main__":
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.2]])
    labels = np.array([0, 1])
    block = SoftmaxCrossEntropy()
    print("потери", block.forward(logits, labels))
    print("dL/dlogits", block.backward(1.0)[0])
