"""Expressions for :func:`chainrule.explain`, parsed with :mod:`ast` against a whitelist.

Nothing here ever calls ``eval`` or ``exec``: the source is parsed into a syntax tree,
every node is checked against the whitelist below, and the tree is then walked by
:class:`Program.evaluate`, which applies chainrule's own op blocks.

Allowed: numbers, names, ``+ - * / ** @``, unary minus and plus, parentheses, calls to
the functions in :data:`FUNCTIONS` (with the keyword arguments each one lists), and
assignments ``name = expression``, separated by ``;`` or new lines, so that
intermediates can be named (``mu = X @ theta; delta = mu - Y; sum(delta ** 2)``); the
last line is the output. Everything else (attribute access, subscripts, lambdas,
comprehensions, strings, comparisons, dunder names, other keywords) is refused with an
:class:`~chainrule.errors.ExpressionError` that shows the expression with a caret under
the offending column.
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ops
from ..errors import ChainruleError, ExpressionError, ShapeError
from ..ops.base import REGISTRY
from ..tensor import Tensor, apply_op, values_of

#: Longest expression accepted, in characters.
MAX_LENGTH = 2000
#: Deepest nesting of operations accepted.
MAX_DEPTH = 100
#: Most characters of the expression an error message quotes on its caret line (a window around the column).
QUOTE_WIDTH = 80
#: Most characters of a name, number or piece of the expression quoted inside a message.
QUOTE_NAME = 40


@dataclass(frozen=True)
class Fn:
    """One whitelisted function: the op it applies, how many tensor arguments it takes,
    and the constant (static) parameters it accepts, positionally after the tensors or
    by keyword."""

    make: Callable[..., ops.Op]
    tensors: int = 1
    params: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    doc: str = ""


def _function_table() -> dict[str, Fn]:
    """The functions an expression may call: every op that declares ``in_expressions``, under its
    first function name, with the parameters of its constructor."""
    table = {}
    for op_class in REGISTRY.values():
        if not op_class.in_expressions:
            continue
        params = op_class.constructor_params()
        doc = (op_class.__doc__ or "").strip().partition("\n")[0]
        table[op_class.functions[0]] = Fn(
            op_class, tensors=op_class.arity, params=tuple(p.name for p in params),
            required=tuple(p.name for p in params if p.default is p.empty), doc=doc,
        )
    return dict(sorted(table.items()))


#: The functions an expression may call.
FUNCTIONS: dict[str, Fn] = _function_table()
#: Python's operators, as the ops that implement them declare them (``Op.operator``).
_OPERATORS = {op_class.operator: op_class for op_class in REGISTRY.values() if op_class.operator}
_AST_OPERATORS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.MatMult: "matmul"}

_REFUSED = {
    ast.Attribute: "attribute access is",
    ast.Subscript: "subscripts are",
    ast.Lambda: "lambdas are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.Compare: "comparisons are",
    ast.BoolOp: "'and'/'or' are",
    ast.IfExp: "conditional expressions are",
    ast.Dict: "dictionaries are",
    ast.Set: "sets are",
    ast.List: "lists are (give arrays as values instead)",
    ast.Tuple: "tuples are",
    ast.Starred: "starred arguments are",
    ast.JoinedStr: "f-strings are",
    ast.NamedExpr: "':=' assignments are",
    ast.Await: "'await' is",
    ast.Yield: "'yield' is",
    ast.YieldFrom: "'yield' is",
    ast.Slice: "slices are",
}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_NAMED_BINOPS = {
    ast.Mod: "%", ast.FloorDiv: "//", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
}

ALLOWED = (
    "numbers, names, + - * / ** @, unary minus, parentheses, 'name = expression' lines "
    "and calls to known functions such as exp(x) or sum(x, axis=0)"
)


_NEWLINE = re.compile(r"\r\n|\r|\n")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lines(source: str) -> list[str]:
    """``source`` split into lines as Python's tokenizer counts them (``\\n``, ``\\r\\n`` or ``\\r``), not as
    :meth:`str.splitlines`, which also breaks at form feeds and Unicode separators."""
    return _NEWLINE.split(source)


def _line(source: str, line: int) -> str:
    lines = _lines(source)
    return lines[min(max(line, 1), len(lines)) - 1]


def _shown(text: str) -> str:
    """``text`` safe to print, one character for one: a tab as a space, every other character that is not
    printable (controls such as ANSI escapes, bidirectional overrides, zero-width and other format
    characters, separators, surrogates, unassigned code points) as U+FFFD, so that a message cannot
    reorder, hide or colour what a terminal shows."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else " " if ch == "\t" else "\ufffd" for ch in text)


def _char_width(ch: str) -> int:
    """Terminal columns of ``ch``: 0 for a combining mark, 2 for a wide (East Asian, emoji) character, else 1."""
    if ch.isascii():
        return 1
    return 0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def _width(text: str) -> int:
    """Terminal columns ``text`` takes (see :func:`_char_width`)."""
    return len(text) if text.isascii() else sum(_char_width(ch) for ch in text)


def _short(text: str, limit: int = QUOTE_NAME) -> str:
    """``text`` cut to at most ``limit`` characters (its end replaced by ``…``), safe to print."""
    text = _shown(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _window(text: str, column: int) -> tuple[int, int]:
    """``text[start:end]``, around ``column``, of at most :data:`QUOTE_WIDTH` characters and terminal columns,
    with at most half of them before ``column``."""
    if len(text) <= QUOTE_WIDTH and _width(text) <= QUOTE_WIDTH:
        return 0, len(text)

    def fits(size: int, width: int) -> bool:
        return size <= QUOTE_WIDTH and width <= QUOTE_WIDTH

    start = end = column
    width = 0
    while start > 0 and fits(2 * (column - start + 1), 2 * (width + _char_width(text[start - 1]))):
        start -= 1
        width += _char_width(text[start])
    while end < len(text) and fits(end + 1 - start, width + _char_width(text[end])):
        width += _char_width(text[end])
        end += 1
    while start > 0 and fits(end - start + 1, width + _char_width(text[start - 1])):  # the line ended early
        start -= 1
        width += _char_width(text[start])
    return start, end


def caret(source: str, line: int, column: int) -> str:
    """The line ``line`` (1-based) of ``source`` with a caret under ``column`` (characters).

    A long line is quoted as a window of at most :data:`QUOTE_WIDTH` characters (and terminal
    columns) around the column, with ``…`` where it is cut, so the message stays short however
    long the expression; unprintable characters are shown as U+FFFD.
    """
    text = _line(source, line)
    column = min(max(column, 0), len(text))
    start, end = _window(text, column)
    before = ("…" if start else "") + _shown(text[start:column])
    after = _shown(text[column:end]) + ("…" if end < len(text) else "")
    return f"  {before}{after}\n  {' ' * _width(before)}^"


def _char_column(source: str, line: int, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; a caret needs characters (``μ`` is two bytes)."""
    text = _line(source, line)
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _names(names, limit: int = 3) -> str:
    """``a, b, c`` for a message: at most ``limit`` names, each cut short, then how many more."""
    names = list(names)
    listed = ", ".join(_short(n, 24) for n in names[:limit])
    return listed if len(names) <= limit else f"{listed} and {len(names) - limit} more"


def _where(source: str, node: ast.AST) -> tuple[int, int]:
    line = getattr(node, "lineno", 1) or 1
    return line, _char_column(source, line, getattr(node, "col_offset", 0) or 0)


def _refuse(source: str, node: ast.AST, message: str) -> ExpressionError:
    line, col = _where(source, node)
    return ExpressionError(f"{message}\n{caret(source, line, col)}", source, col)


def _one_line(source: str, node: ast.AST, message: str) -> ExpressionError:
    """A one-line error that names the column (unknown names, shapes, values)."""
    line, col = _where(source, node)
    where = f"column {col + 1}" if len(_lines(source.strip())) == 1 else f"line {line}, column {col + 1}"
    return ExpressionError(f"{message} (at {where})", source, col)


def _segment(source: str, node: ast.AST) -> str:
    """The source of ``node``, cut to a length fit for a message."""
    try:
        text = ast.get_source_segment(source, node)
    except (ValueError, IndexError, TypeError):  # pragma: no cover - defensive
        text = None
    return _short(" ".join(text.split()), 60) if text else type(node).__name__


@dataclass
class Statement:
    """One line of a program: ``target = expr`` (target None for the final bare expression)."""

    target: str | None
    expr: ast.expr
    node: ast.AST


@dataclass
class Program:
    """A parsed, checked expression (or ``name = expression`` lines ending in the output).

    Attributes
    ----------
    source : the text as given.
    statements : the checked lines, in order.
    free_names : names the expression reads without assigning: its inputs, in first-use order.
    assigned : names given to intermediates by ``name = ...``, in order.
    """

    source: str
    statements: list[Statement]
    free_names: list[str] = field(default_factory=list)
    assigned: list[str] = field(default_factory=list)
    _first_use: dict[str, ast.AST] = field(default_factory=dict, repr=False)

    @property
    def display(self) -> str:
        """The source on one line (``;`` between statements)."""
        return "; ".join(part.strip() for part in self.source.replace(";", "\n").splitlines() if part.strip())

    def check_values(self, names) -> None:
        """Raise one clear error for missing or extra values."""
        given = list(names)
        missing = [n for n in self.free_names if n not in given]
        if missing:
            node = self._first_use[missing[0]]
            listed = _names(missing)
            have = _names(given) if given else "none"
            raise _one_line(
                self.source, node,
                f"unknown name {_short(missing[0])!r}: no value was given for it; give {_short(missing[0])}=… "
                f"(values given: {have})" if len(missing) == 1 else
                f"unknown names {listed}: no values were given for them (values given: {have})",
            )
        extra = [n for n in given if n not in self.free_names]
        if extra:
            clash = [n for n in extra if n in self.assigned]
            if clash:
                raise ExpressionError(
                    f"{_short(clash[0])!r} is both given a value and assigned in the expression; rename one of them"
                )
            uses = _names(self.free_names) if self.free_names else "no names"
            raise ExpressionError(
                f"value{'s' if len(extra) > 1 else ''} given but not used by the expression: "
                f"{_names(extra)} (it uses {uses})"
            )

    def evaluate(self, env: dict[str, Tensor], sink: Sink | None = None) -> Val:
        """Run the program on Tensors; ``sink`` (when given) is told of every variable and op."""
        return _Evaluator(self, env, sink).run()


def parse(source: str) -> Program:
    """Parse and check ``source``; raises :class:`ExpressionError` (with a caret) when refused.

    Parameters
    ----------
    source : an expression such as ``"(a + b) * (c - d)"``, or ``name = expression`` lines
        (separated by ``;`` or new lines) ending in the output.

    Returns
    -------
    Program, ready for :meth:`Program.evaluate`.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be a string, got {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression too long: {len(source)} characters (at most {MAX_LENGTH})")
    if "\x00" in source:
        raise ExpressionError(f"expression contains a NUL character (at column {source.index(chr(0)) + 1})")
    bad = _SURROGATE.search(source)
    if bad:  # not text: cannot even be encoded to be parsed
        raise ExpressionError(
            f"expression contains a lone surrogate U+{ord(bad.group()):04X} (at column {bad.start() + 1}), "
            f"which is not a character", source, bad.start(),
        )
    if not source.strip():
        raise ExpressionError("empty expression: write something like (a + b) * c")
    text = source.strip("\n")
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" and the like: refused below anyway
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip() if "\n" not in text else _dedent(text), mode="exec")
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = max((exc.offset or 1) - 1, 0)
        shown = text.strip() if "\n" not in text else _dedent(text)
        reason = _short((exc.msg or "invalid syntax").split(" (")[0], 100)
        raise ExpressionError(f"syntax error: {reason}\n{caret(shown, line, col)}", source, col) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        reason = _short(f"{type(exc).__name__}: {exc}", 150)
        raise ExpressionError(f"expression cannot be parsed: {reason}", source) from None
    shown = text.strip() if "\n" not in text else _dedent(text)
    return _check(shown, tree)


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).strip()


def _check(source: str, tree: ast.Module) -> Program:
    if not tree.body:
        raise ExpressionError("empty expression: write something like (a + b) * c", source)
    statements: list[Statement] = []
    free: list[str] = []
    assigned: list[str] = []
    first_use: dict[str, ast.AST] = {}
    last = len(tree.body) - 1
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.Expr):
            if i != last:
                raise _refuse(source, stmt, "only the last line may be a bare expression; name the others: E = …")
            value, target = stmt.value, None
        elif isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
                raise _refuse(source, stmt, "an assignment must give one plain name: E = …")
            target = stmt.targets[0].id
            _check_name(source, stmt.targets[0], target)
            if target in assigned:
                raise _refuse(source, stmt.targets[0], f"{_short(target)!r} is assigned twice; give each its own name")
            if target in free:
                raise _refuse(source, stmt.targets[0], f"{_short(target)!r} is used before it is assigned")
            if target in FUNCTIONS:
                raise _refuse(source, stmt.targets[0], f"{_short(target)!r} is a function name; choose another name")
            value = stmt.value
        else:
            kind = type(stmt).__name__
            raise _refuse(
                source, stmt,
                f"{kind} statements are not allowed: only 'name = expression' lines and a final expression",
            )
        _check_expr(source, value, 0, assigned, free, first_use)
        statements.append(Statement(target, value, stmt))
        if target is not None:
            assigned.append(target)
    return Program(source, statements, free, assigned, first_use)


def _check_name(source: str, node: ast.AST, name: str) -> None:
    if name.startswith("__"):
        raise _refuse(source, node, f"dunder names such as {_short(name)!r} are not allowed")


def _check_expr(source: str, node: ast.AST, depth: int, assigned, free, first_use) -> None:
    if depth > MAX_DEPTH:
        raise _refuse(source, node, f"expression nested too deeply (more than {MAX_DEPTH} levels)")
    if isinstance(node, ast.Constant):
        _number(source, node)
        return
    if isinstance(node, ast.Name):
        _check_name(source, node, node.id)
        if node.id not in assigned and node.id not in free:
            free.append(node.id)
            first_use[node.id] = node
        return
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        if op not in _BINOPS:
            symbol = _NAMED_BINOPS.get(op, type(node.op).__name__)
            raise _refuse(source, _op_position(source, node), f"operator {symbol} is not allowed; allowed: {ALLOWED}")
        _check_expr(source, node.left, depth + 1, assigned, free, first_use)
        _check_expr(source, node.right, depth + 1, assigned, free, first_use)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            symbol = {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), "?")
            raise _refuse(source, node, f"operator {symbol!r} is not allowed; allowed: {ALLOWED}")
        _check_expr(source, node.operand, depth + 1, assigned, free, first_use)
        return
    if isinstance(node, ast.Call):
        _check_call(source, node, depth, assigned, free, first_use)
        return
    what = _REFUSED.get(type(node)) or f"{type(node).__name__} nodes are"
    raise _refuse(source, _position(source, node), f"{what} not allowed; allowed: {ALLOWED}")


def _op_position(source: str, node: ast.BinOp) -> ast.AST:
    """A stand-in node placed at the operator itself, for the caret."""
    return _after(source, node.left) or node


def _position(source: str, node: ast.AST) -> ast.AST:
    """Where the caret goes: at the dot of ``a.b`` and the bracket of ``a[0]``, else the node's start."""
    if isinstance(node, (ast.Attribute, ast.Subscript)):
        return _after(source, node.value) or node
    return node


def _after(source: str, node: ast.AST) -> ast.AST | None:
    """A stand-in node at the first character after ``node`` that is not a space or ``)``."""
    line, col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
    if line is None or col is None:
        return None
    lines = _lines(source)
    raw = lines[line - 1].encode("utf-8") if line - 1 < len(lines) else b""
    while col < len(raw) and raw[col : col + 1] in (b" ", b")", b"\t"):
        col += 1
    marker = ast.Pass()
    marker.lineno, marker.col_offset = line, col
    return marker


def _known_like(name: str) -> str:
    """The functions nearest to a misspelt ``name``, or where the whole list is (it is too long for a line)."""
    import difflib

    near = difflib.get_close_matches(name, list(FUNCTIONS), n=4, cutoff=0.6)
    listed = f"did you mean {', '.join(near)}? " if near else ""
    return f"{listed}({len(FUNCTIONS)} functions; 'chainrule explain --help' lists them)"


def _check_call(source: str, node: ast.Call, depth: int, assigned, free, first_use) -> None:
    if not isinstance(node.func, ast.Name):
        what = _REFUSED.get(type(node.func), "calls of computed functions are")
        raise _refuse(source, _position(source, node.func), f"{what} not allowed; call a function by name, e.g. exp(x)")
    name = node.func.id
    _check_name(source, node.func, name)
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise _one_line(source, node.func, f"unknown function {_short(name)!r}; {_known_like(name)}")
    for kw in node.keywords:
        if kw.arg is None:
            raise _refuse(source, kw.value, "'**' arguments are not allowed")
        if kw.arg not in fn.params:
            allowed = ", ".join(fn.params) if fn.params else "none"
            raise _refuse(source, kw.value, f"{name}() has no keyword {_short(kw.arg)!r} (allowed: {allowed})")
        _literal(source, kw.value, kw.arg)
    n_tensors = fn.tensors
    args = node.args
    for a in args:
        if isinstance(a, ast.Starred):
            raise _refuse(source, a, "starred arguments are not allowed")
    if len(args) < n_tensors:
        raise _refuse(source, node, f"{name}() takes {n_tensors} tensor argument{'s' if n_tensors > 1 else ''}")
    statics = args[n_tensors:]
    if len(statics) > len(fn.params):
        raise _refuse(source, statics[len(fn.params)], f"{name}() takes at most {n_tensors + len(fn.params)} arguments")
    given = set(fn.params[: len(statics)])
    for kw in node.keywords:
        if kw.arg in given:
            raise _refuse(source, kw.value, f"{name}() got {kw.arg!r} twice")
        given.add(kw.arg)
    for p in fn.required:
        if p not in given:
            raise _refuse(source, node, f"{name}() needs {p}=…")
    for p, a in zip(fn.params, statics):
        _literal(source, a, p)
    for a in args[:n_tensors]:
        _check_expr(source, a, depth + 1, assigned, free, first_use)


def _number(source: str, node: ast.Constant) -> float:
    v = node.value
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        kind = {str: "strings", bytes: "bytes", complex: "complex numbers", bool: "True/False"}.get(
            type(v), f"{type(v).__name__} constants"
        )
        if v is None:
            kind = "None"
        elif v is Ellipsis:
            kind = "'...'"
        raise _refuse(source, node, f"{kind} are not allowed here; allowed: {ALLOWED}")
    try:
        return float(v)
    except OverflowError:
        raise _refuse(source, node, "number too large for a float") from None


def _literal(source: str, node: ast.AST, param: str) -> Any:
    """A constant parameter: an int, a float, True/False, None, or a tuple of ints."""

    def value(n, depth=0):
        if depth > 3:
            raise _refuse(source, n, f"{param}= is nested too deeply")
        if isinstance(n, ast.Constant) and (n.value is None or isinstance(n.value, (bool, int, float))):
            return n.value
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) and isinstance(n.operand, ast.Constant):
            v = n.operand.value
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return -v
        if isinstance(n, (ast.Tuple, ast.List)):
            if len(n.elts) > 32:
                raise _refuse(source, n, f"{param}= has too many elements")
            return tuple(value(e, depth + 1) for e in n.elts)
        raise _refuse(source, n, f"{param}= must be a constant (a number, True/False, or a tuple of ints)")

    v = value(node)
    ok = {
        "axis": lambda x: x is None or _is_int(x) or (isinstance(x, tuple) and all(_is_int(i) for i in x)),
        "axes": lambda x: x is None or (isinstance(x, tuple) and all(_is_int(i) for i in x)),
        "shape": lambda x: _is_int(x) or (isinstance(x, tuple) and all(_is_int(i) for i in x)),
        "keepdims": lambda x: isinstance(x, bool),
        "negative_slope": lambda x: _is_number(x),
        "exponent": lambda x: _is_number(x),
    }.get(param, lambda x: True)(v)
    if not ok:
        want = {
            "axis": "an int, a tuple of ints or None", "axes": "a tuple of ints", "shape": "an int or a tuple of ints",
            "keepdims": "True or False", "negative_slope": "a number", "exponent": "a number",
        }.get(param, "a constant")
        raise _refuse(source, node, f"{param}= must be {want}")
    if _is_int(v) and abs(v) > 2**31 or isinstance(v, tuple) and any(abs(i) > 2**31 for i in v):
        raise _refuse(source, node, f"{param}= is out of range")
    return v


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# -- evaluation ---------------------------------------------------------------------------------


@dataclass
class Val:
    """A value during evaluation: a Tensor (or, for a constant, an array) and its variable id."""

    data: Any
    var: int | None
    const: bool = False

    @property
    def array(self) -> np.ndarray:
        return values_of(self.data) if isinstance(self.data, Tensor) else np.asarray(self.data)


class Sink:
    """Told of every variable and op while a program runs (see ``trace.GraphBuilder``)."""

    def input(self, name: str, tensor: Tensor) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def constant(self, value: np.ndarray) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def op(self, op: ops.Op, inputs: list[int], output: Tensor, name: str | None) -> int:  # pragma: no cover
        raise NotImplementedError


class _Evaluator:
    def __init__(self, program: Program, env: dict[str, Tensor], sink: Sink | None):
        self.p, self.env, self.sink = program, env, sink
        self.scope: dict[str, Val] = {}

    def run(self) -> Val:
        src = self.p.source
        for name in self.p.free_names:
            t = self.env[name]
            self.scope[name] = Val(t, self.sink.input(name, t) if self.sink else None)
        result = None
        with np.errstate(all="ignore"):
            for st in self.p.statements:
                result = self.expr(st.expr, st.target)
                if st.target is not None:
                    if result.const or (result.var is not None and self._is_named(result)):
                        # E = A or E = 2: still a step of its own, the identity
                        result = self.apply(ops.Identity(), [result], st.expr, st.target, force=True)
                    self.scope[st.target] = result
        assert result is not None, src
        return result

    def _is_named(self, v: Val) -> bool:
        return any(v is s for s in self.scope.values())

    def apply(self, op: ops.Op, args: list[Val], node: ast.AST, name: str | None = None, force: bool = False) -> Val:
        datas = [a.data for a in args]
        try:
            if all(a.const for a in args) and not force:
                out = np.asarray(op.forward(*[a.array for a in args]), dtype=np.float64)
                return Val(out, self.sink.constant(out) if self.sink else None, const=True)
            out = apply_op(op, *datas)
        except ShapeError as exc:
            raise ShapeError(f"in {_segment(self.p.source, node)!r}: {exc}") from None
        except ChainruleError:
            raise
        except (ValueError, TypeError, IndexError, ArithmeticError) as exc:  # NumPy refusing the operands
            raise _one_line(self.p.source, node, f"{op.name} cannot be applied: {_short(str(exc), 150)}") from None
        var = self.sink.op(op, [a.var for a in args], out, name) if self.sink else None
        return Val(out, var)

    def const(self, value: float) -> Val:
        arr = np.asarray(value, dtype=np.float64)
        return Val(arr, self.sink.constant(arr) if self.sink else None, const=True)

    def expr(self, node: ast.AST, name: str | None = None) -> Val:
        if isinstance(node, ast.Constant):
            return self.const(_number(self.p.source, node))
        if isinstance(node, ast.Name):
            return self.scope[node.id]
        if isinstance(node, ast.UnaryOp):
            x = self.expr(node.operand)
            if isinstance(node.op, ast.UAdd):
                return x
            return self.apply(_OPERATORS["neg"](), [x], node, name)
        if isinstance(node, ast.BinOp):
            return self.binop(node, name)
        if isinstance(node, ast.Call):
            return self.call(node, name)
        raise _refuse(self.p.source, node, "not allowed")  # pragma: no cover - _check refused it

    def binop(self, node: ast.BinOp, name: str | None) -> Val:
        a = self.expr(node.left)
        b = self.expr(node.right)
        kind = type(node.op)
        if kind is ast.Pow:
            return self.power(a, b, node, name)
        return self.apply(_OPERATORS[_AST_OPERATORS[kind]](), [a, b], node, name)

    def power(self, a: Val, b: Val, node: ast.AST, name: str | None) -> Val:
        if b.const and b.array.ndim == 0:
            p = float(b.array)
            if a.const:
                return self.apply(ops.Pow(p), [a], node, name)
            if p == 2:
                return self.apply(ops.Square(), [a], node, name)
            return self.apply(ops.Pow(int(p) if p.is_integer() and abs(p) < 2**31 else p), [a], node, name)
        return self.apply(ops.Power(), [a, b], node, name)  # a ** b with b a value of the graph, as Tensor's

    def call(self, node: ast.Call, name: str | None) -> Val:
        fname = node.func.id  # type: ignore[attr-defined]
        fn = FUNCTIONS[fname]
        src = self.p.source
        statics = {p: _literal(src, a, p) for p, a in zip(fn.params, node.args[fn.tensors :])}
        statics.update({kw.arg: _literal(src, kw.value, kw.arg) for kw in node.keywords})
        args = [self.expr(a) for a in node.args[: fn.tensors]]
        try:
            op = fn.make(**statics)
        except (TypeError, ValueError) as exc:
            raise _one_line(src, node, f"{fname}() cannot be built: {_short(str(exc), 150)}") from None
        return self.apply(op, args, node, name)


def parse_value(text: str, name: str = "value") -> np.ndarray:
    """A value written on the command line: ``2``, ``-1.5e3``, ``[1, 2, 3]``, ``[[1, 2], [3, 4]]``.

    Parsed with :mod:`ast` (never evaluated): only numbers, unary minus and nested lists
    or tuples of them. Returns a float64 array.
    """
    shown = text.strip() if len(text.strip()) <= 40 else text.strip()[:39] + "…"
    bad = ExpressionError(f"value for {name} must be a number or a (nested) list of numbers, got {shown!r}")
    if len(text) > 100_000:
        raise ExpressionError(f"value for {name} is too long")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        raise bad from None

    def walk(n, depth=0):
        if depth > 32:
            raise ExpressionError(f"value for {name} is nested too deeply")
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool):
            try:
                return float(n.value)
            except OverflowError:
                raise ExpressionError(f"value for {name}: number too large") from None
        if isinstance(n, ast.Name) and n.id in ("inf", "nan"):
            return float(n.id)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            v = walk(n.operand, depth + 1)
            if isinstance(v, list):
                raise bad
            return -v if isinstance(n.op, ast.USub) else v
        if isinstance(n, (ast.List, ast.Tuple)):
            return [walk(e, depth + 1) for e in n.elts]
        raise bad

    data = walk(tree.body)
    try:
        arr = np.array(data, dtype=np.float64)
    except ValueError:
        raise ExpressionError(f"value for {name} is a ragged list: every row must have the same length") from None
    return arr
