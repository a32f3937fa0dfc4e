"""chainrule's own exception types, and :func:`shorten`, how their messages quote what a user gave.

Every error the library raises on purpose is a :class:`ChainruleError`, so a
caller can catch them all with one ``except``. The subclasses also derive from
the matching built-in type (``ValueError``, ``TypeError``) so code written
against NumPy's habits keeps working.
"""

from __future__ import annotations


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with "...": how a message quotes what a
    user gave (a cell, an argument, a name in a file), which can be megabytes long."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ChainruleError(Exception):
    """Base class of every error raised on purpose by chainrule."""


class ShapeError(ChainruleError, ValueError):
    """Operands whose shapes do not fit the operation; the message names the op and the shapes."""


class DTypeError(ChainruleError, TypeError):
    """A dtype that cannot be used here, e.g. integer data that asks for gradients."""


class GraphError(ChainruleError, RuntimeError):
    """Misuse of the backward graph: a freed graph, a missing gradient, a non-scalar root."""


class GradcheckError(ChainruleError, AssertionError):
    """Raised by ``gradcheck(..., raise_on_failure=True)`` when gradients disagree."""

    def __init__(self, result):
        super().__init__(result.report())
        self.result = result


class DataError(ChainruleError, ValueError):
    """Data that cannot be used: a bad CSV cell (the message names line and column), a missing column."""


class SerializationError(ChainruleError, ValueError):
    """A model file that cannot be written or read: damaged, foreign, or of an unknown model kind."""


class MissingDependencyError(ChainruleError, ImportError):
    """An optional extra is not installed; the message names the ``pip install 'chainrule[...]'`` to run."""


def require(module: str, extra: str, purpose: str):
    """Import the optional ``module`` or raise :class:`MissingDependencyError` naming the extra.

    >>> safetensors = require("safetensors.numpy", "io", "saving models")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the optional package {module.split('.')[0]!r}, which is not installed; "
            f"install it with: pip install 'chainrule[{extra}]'"
        ) from exc


class ExpressionError(ChainruleError, ValueError):
    """An expression for ``chainrule.explain`` that cannot be used: bad syntax, a refused
    construct, an unknown name or function, a missing or extra value.

    The message shows the expression with a caret under the offending column; ``column``
    (0-based, or None) and ``source`` say where.
    """

    def __init__(self, message: str, source: str | None = None, column: int | None = None):
        super().__init__(message)
        self.source = source
        self.column = column


class RenderError(ChainruleError, RuntimeError):
    """A drawing that cannot be made: a missing external program (Graphviz ``dot``) or its failure."""


class ConfigError(ChainruleError, ValueError):
    """An argument that cannot be used: an unknown reduction, optimiser, schedule or monitor, a bad size or rate."""
