"""chainrule's own exception types.

Every error the library raises on purpose is a :class:`ChainruleError`, so a
caller can catch them all with one ``except``. The subclasses also derive from
the matching built-in type (``ValueError``, ``TypeError``) so code written
against NumPy's habits keeps working.
"""

from __future__ import annotations


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
