"""Handwritten digits with a multi-layer network: chainrule's nn, optim and fit, the PyTorch way.

8×8 images (64 pixels) of the digits 0-9 from scikit-learn's bundled copy (no
network needed; ``pip install 'chainrule[data]'``). The network is
Linear(64, 64) → ReLU → Linear(64, 10); the loss is softmax cross-entropy on the
10 logits; Adam updates the weights from mini-batches of 32. A stratified 25%
of the images is held out and only ever used for scoring.

Run: python examples/mlp_digits.py [--epochs 30] [--plot curves.png] [--save digits.safetensors]
"""

from __future__ import annotations

import argparse

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import Standardizer, load_digits, stratified_split
from chainrule.train import accuracy, accuracy_metric, confusion_matrix, format_confusion_matrix


def main(epochs: int = 30, seed: int = 0, plot: str | None = None, save: str | None = None) -> dict:
    digits = load_digits()
    train, test = stratified_split(digits, test_size=0.25, rng=seed)
    scaler = Standardizer().fit(train.X)                  # statistics of the training part only
    X_train, X_test = scaler.transform(train.X), scaler.transform(test.X)

    model = nn.MLP(64, hidden=[64], out_features=10, activation="relu", rng=seed)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    print(model)

    # one step written out, as fit does it for every mini-batch
    opt.zero_grad()
    loss = loss_fn(model(X_train[:32]), train.Y[:32])     # forward: logits (32, 10) -> one number
    loss.backward()                                       # backward: the chain rule through every layer
    print(f"first batch: loss {loss.item():.4f}, |dL/dW of layer 0| = {np.linalg.norm(model[0].weight.grad):.4f}")
    opt.step()

    history = cr.fit(model, loss_fn, opt, (X_train, train.Y), test_data=(X_test, test.Y), epochs=epochs,
                     batch_size=32, seed=seed, metrics={"accuracy": accuracy_metric}, progress=False)
    for epoch in (1, 2, 5, 10, 20, 30, 50):
        if epoch <= len(history):
            print(f"epoch {epoch:3d}  train loss {history.train_loss[epoch - 1]:.4f}  "
                  f"test loss {history.test_loss[epoch - 1]:.4f}  "
                  f"test accuracy {history['test_accuracy'][epoch - 1]:.4f}")

    logits = cr.train.predict(model, X_test)
    acc = accuracy(test.Y, logits)
    cm = confusion_matrix(test.Y, logits, 10)
    print(f"test accuracy {acc:.4f} ({int(np.trace(cm))} of {len(test)} images)")
    print(format_confusion_matrix(cm, digits.info["classes"]))
    if plot:
        from chainrule.train.plots_classification import plot_curves

        plot_curves(history, plot, title="MLP on digits")
        print(f"wrote {plot}")
    if save:
        cr.save(model, save, metadata={"task": "classification", "classes": digits.info["classes"],
                                       "feature_names": digits.feature_names, "standardizer": scaler.state()})
        print(f"saved {save} (chainrule predict / evaluate read it; torch.nn.Sequential loads its state dict)")
    return {"test_accuracy": acc, "confusion": cm, "history": history}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None)
    parser.add_argument("--save", default=None)
    args = parser.parse_args()
    main(args.epochs, args.seed, args.plot, args.save)
