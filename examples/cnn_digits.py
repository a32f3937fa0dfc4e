"""Handwritten digits with a small convolutional network, built from the same blocks.

The 8×8 images as one-channel pictures (N, 1, 8, 8): Conv2d(1, 16, 3, padding=1) → ReLU →
MaxPool2d(2) → Conv2d(16, 32, 3, padding=1) → ReLU → MaxPool2d(2) → Flatten → Linear(128, 10),
softmax cross-entropy, Adam, mini-batches of 32. The convolutions are im2col: the image's
windows gathered by one integer index, contracted with the filters by einsum; their backward
passes are those blocks'. The same held-out quarter as ``mlp_digits.py``, for comparison.

Run: python examples/cnn_digits.py [--epochs 15]
"""

from __future__ import annotations

import argparse
import time

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import load_digits, stratified_split
from chainrule.train import accuracy, accuracy_metric


def network(seed: int = 0) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=seed), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, rng=seed + 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10, rng=seed + 2),
    )


def main(epochs: int = 15, seed: int = 0) -> dict:
    digits = load_digits()
    train, test = stratified_split(digits, test_size=0.25, rng=seed)
    scale = 16.0  # the pixels are 0..16: as images, one scale for all of them
    X_train = (train.X / scale).reshape(-1, 1, 8, 8)
    X_test = (test.X / scale).reshape(-1, 1, 8, 8)
    model = network(seed)
    print(model)
    start = time.perf_counter()
    history = cr.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-3), (X_train, train.Y),
                     test_data=(X_test, test.Y), epochs=epochs, batch_size=32, seed=seed,
                     metrics={"accuracy": accuracy_metric}, progress=False)
    seconds = time.perf_counter() - start
    for epoch in (1, 2, 5, 10, 15, 20):
        if epoch <= len(history):
            print(f"epoch {epoch:3d}  train loss {history.train_loss[epoch - 1]:.4f}  "
                  f"test accuracy {history['test_accuracy'][epoch - 1]:.4f}")
    acc = accuracy(test.Y, cr.train.predict(model, X_test))
    print(f"test accuracy {acc:.4f} ({len(test)} images), {epochs} epochs in {seconds:.1f} s")
    return {"test_accuracy": acc, "history": history, "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.seed)
