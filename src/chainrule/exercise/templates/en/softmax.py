"""Exercise 5: softmax with cross-entropy, the loss of a classifier, as one block.

forward(logits, labels): p = softmax(logits) row by row, L = mean over the n objects of
-log p[i, labels[i]]. backward(upstream): dL/dlogits = upstream * (p - onehot(labels)) / n.
Replace every ``raise NotImplementedError`` with your code, then run
``chainrule exercise check softmax.py``.
"""

import numpy as np


class SoftmaxCrossEntropy:
    """L = mean_i -log softmax(logits)[i, labels[i]];  dL/dlogits = (softmax(logits) - onehot) / n.

    Shapes: logits (n, k) floats, labels (n,) integers in 0..k-1 -> L, a float.
    Cache: the probabilities p (n, k) and the labels.
    backward(upstream, a float, 1.0 for the loss itself) -> (dlogits (n, k), None): the labels get
    no gradient. Keep it finite for logits of 1000: subtract each row's maximum before exp.
    """

    def forward(self, logits, labels):
        raise NotImplementedError("SoftmaxCrossEntropy.forward")

    def backward(self, upstream=1.0):
        raise NotImplementedError("SoftmaxCrossEntropy.backward")


if __name__ == "__main__":
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.2]])
    labels = np.array([0, 1])
    block = SoftmaxCrossEntropy()
    print("loss", block.forward(logits, labels))
    print("dL/dlogits", block.backward(1.0)[0])
