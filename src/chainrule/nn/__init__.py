"""``chainrule.nn``: modules, parameters, layers, losses and initialisers (PyTorch's names).

* :class:`Module`, :class:`Parameter`, :class:`ModuleList` – the building kit (see
  :mod:`chainrule.nn.module` for how to write a layer or a container),
* :class:`Linear` – y = x Wᵀ + b, weight (out, in) as in PyTorch,
* :class:`LinearRegression` – the lecture's μ = Xθ with θ ~ N(0, 1), and its
  least-squares optimum :meth:`LinearRegression.closed_form`,
* :class:`SumSquaredError` (the lecture's L = ΣΔ²) and :class:`MSELoss`,
* :mod:`chainrule.nn.init` – normal, uniform, xavier/glorot, kaiming/he, zeros.

New layer files add their exports at the end of this file (append-only) so that
``chainrule.nn.X`` works and, for saved models, importing ``chainrule.nn``
registers every model kind.
"""

from . import init, utils
from .linear import Linear, LinearRegression, LinearRegressionOp, least_squares
from .losses import REDUCTIONS, Loss, MSELoss, SquaredErrorOp, SumSquaredError
from .module import IncompatibleKeys, Module, ModuleList, Parameter

__all__ = [
    "init", "utils", "Module", "ModuleList", "Parameter", "IncompatibleKeys",
    "Linear", "LinearRegression", "least_squares", "LinearRegressionOp",
    "Loss", "SumSquaredError", "MSELoss", "SquaredErrorOp", "REDUCTIONS",
]

# -- multi-layer networks and classification --------------------------------
from .activations import ACTIVATIONS, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh, activation, gelu
from .classification_losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss
from .containers import MLP, ConvNet, Sequential
from .conv import AvgPool2d, Conv1d, Conv2d, MaxPool2d
from .dropout import Dropout
from .normalization import BatchNorm1d, BatchNorm2d, Embedding, Flatten, LayerNorm, Unflatten

__all__ += [
    "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus", "GELU", "gelu", "activation", "ACTIVATIONS",
    "Dropout", "Sequential", "MLP", "CrossEntropyLoss", "BCEWithLogitsLoss", "HuberLoss",
    "LayerNorm", "BatchNorm1d", "BatchNorm2d", "Embedding", "Flatten", "Unflatten", "Conv1d", "Conv2d", "MaxPool2d",
    "AvgPool2d", "ConvNet",
]
