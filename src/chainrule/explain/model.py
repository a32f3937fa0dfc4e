"""The picture of a computation that every rendering draws from: variables and op nodes.

A :class:`Graph` has variable nodes (:class:`Var`: an input, a constant, an
intermediate or the output, with its value and, after backward, its gradient) and op
nodes (:class:`Node`: one application of an op, the lecture's "independent block"),
joined by forward edges ``input var -> op -> output var``. It is built either while an
expression runs (:class:`GraphBuilder`) or afterwards from any Tensor's graph
(:func:`graph_from_tensor`), by following each graph node's ``next`` links.
"""

from __future__ import annotations

import copy
import inspect
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ops
from ..errors import ChainruleError
from ..graph import Node as GraphNode
from ..tensor import Tensor, values_of
from .notation import LATEX, UNICODE, fmt_value
from .parse import Sink
from .rules import OpText, describe, replayable


@dataclass
class Var:
    """A variable node: name, kind (``input``, ``constant``, ``intermediate``, ``output``
    or ``leaf`` for a tensor from outside the traced inputs), value, shape, the index of
    the op node that produced it (None for leaves), and its gradient once backward ran."""

    index: int
    name: str
    kind: str
    value: np.ndarray | None
    shape: tuple[int, ...] | None
    producer: int | None = None
    grad: np.ndarray | None = None
    wants_grad: bool = False
    named_by_user: bool = False


@dataclass
class Node:
    """An op node: the op, its inputs (variable indices, in argument order) and its output."""

    index: int
    op: Any = field(repr=False)
    type: str
    name: str
    inputs: list[int]
    output: int
    symbol: str = ""
    formula: str = ""
    formula_tex: str = ""
    text: OpText | None = field(default=None, repr=False)
    text_tex: OpText | None = field(default=None, repr=False)


@dataclass
class Graph:
    """Variables and op nodes, in forward order; ``output`` is the index of the final variable."""

    vars: list[Var]
    nodes: list[Node]
    output: int
    notes: list[str] = field(default_factory=list)

    def var(self, name: str) -> Var:
        """The variable called ``name``."""
        for v in self.vars:
            if v.name == name:
                return v
        raise KeyError(name)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Forward edges as ``(from, to)`` pairs of node ids (``v3``, ``op1``)."""
        out = []
        for n in self.nodes:
            for i in n.inputs:
                out.append((f"v{i}", f"op{n.index}"))
            out.append((f"op{n.index}", f"v{n.output}"))
        return out


def letters(reserved: set[str]):
    """Names for intermediates, lecture style: E, F, G, … Z, then A–D, skipping any letter
    taken (in either case) by an input or a name the user gave; then E1, F1, …"""
    taken = {r.upper() for r in reserved if len(r) == 1}
    order = string.ascii_uppercase[4:] + string.ascii_uppercase[:4]
    for letter in order:
        if letter not in taken:
            yield letter
    k = 1
    while True:
        for letter in order:
            candidate = f"{letter}{k}"
            if candidate not in reserved:
                yield candidate
        k += 1


class GraphBuilder(Sink):
    """Collects variables and ops while an expression runs; :meth:`finish` names and prunes."""

    def __init__(self, reserved: set[str] | None = None):
        self.vars: list[Var] = []
        self.nodes: list[Node] = []
        self.reserved = set(reserved or ())

    def input(self, name: str, tensor: Tensor) -> int:
        return self._var(name, "input", values_of(tensor), named=True)

    def leaf(self, tensor: Tensor, name: str | None = None) -> int:
        v = self._var(name, "leaf", values_of(tensor), named=name is not None)
        self.vars[v].grad = None if tensor.grad is None else np.asarray(tensor.grad)
        return v

    def constant(self, value, name: str | None = None) -> int:
        return self._var(name, "constant", value, named=name is not None)

    def op(self, op: ops.Op, inputs: list[int], output, name: str | None, value_known: bool = True) -> int:
        data = values_of(output)
        v = self._var(name, "intermediate", data if value_known else None, named=name is not None)
        node = Node(len(self.nodes), op, type(op).__name__, op.name, list(inputs), v)
        self.vars[v].producer = node.index
        self.nodes.append(node)
        return v

    def _var(self, name, kind, value, named) -> int:
        arr = None if value is None else np.asarray(value)
        var = Var(len(self.vars), name or "", kind, arr, None if arr is None else arr.shape, named_by_user=named)
        self.vars.append(var)
        return var.index

    def finish(self, output: int, notes: list[str] | None = None) -> Graph:
        """Keep what the output depends on (and every input), renumber, name, write formulas."""
        # every var the output depends on, through the producers
        keep = {output} | {v.index for v in self.vars if v.kind == "input"}
        stack = [output]
        while stack:
            v = self.vars[stack.pop()]
            if v.producer is None:
                continue
            for i in self.nodes[v.producer].inputs:
                if i not in keep:
                    keep.add(i)
                    stack.append(i)
        var_map = {}
        new_vars: list[Var] = []
        for v in self.vars:
            if v.index in keep:
                var_map[v.index] = len(new_vars)
                v.index = len(new_vars)
                new_vars.append(v)
        new_nodes: list[Node] = []
        for n in self.nodes:
            if n.output in var_map:
                n.index = len(new_nodes)
                n.inputs = [var_map[i] for i in n.inputs]
                n.output = var_map[n.output]
                new_vars[n.output].producer = n.index
                new_nodes.append(n)
        out = var_map[output]
        graph = Graph(new_vars, new_nodes, out, list(notes or []))
        _name(graph, self.reserved)
        if new_vars[out].kind == "intermediate":
            new_vars[out].kind = "output"
        for n in new_nodes:
            write_formulas(graph, n)
        return graph


def _name(graph: Graph, reserved: set[str]) -> None:
    used = set(reserved) | {v.name for v in graph.vars if v.name}
    auto = letters(used)
    counters = {"c": 1, "p": 1}
    for v in graph.vars:  # constants: their value when it is one number, else c1, c2, …; other leaves p1, …
        if v.name:
            continue
        if v.kind == "constant" and v.value is not None and v.value.size == 1 and v.value.ndim == 0:
            v.name = fmt_value(v.value)
        elif v.kind in ("constant", "leaf") and v.producer is None:
            prefix = "c" if v.kind == "constant" else "p"
            while f"{prefix}{counters[prefix]}" in used:
                counters[prefix] += 1
            v.name = f"{prefix}{counters[prefix]}"
            used.add(v.name)
    for n in graph.nodes:  # intermediates in forward order
        v = graph.vars[n.output]
        if not v.name:
            v.name = next(auto)
            while v.name in used:
                v.name = next(auto)
            used.add(v.name)


def write_formulas(graph: Graph, n: Node) -> None:
    """Fill the node's drawing symbol and forward formula, in Unicode and in LaTeX."""
    y = graph.vars[n.output]
    xs = [graph.vars[i] for i in n.inputs]
    vals = [x.value for x in xs]
    n.text = describe(n.op, UNICODE, y.name, [x.name for x in xs], vals, y.value)
    n.text_tex = describe(n.op, LATEX, LATEX.name(y.name), [LATEX.name(x.name) for x in xs], vals, y.value)
    n.symbol = n.text.symbol
    n.formula = UNICODE.eq(y.name, n.text.rhs)
    n.formula_tex = LATEX.eq(LATEX.name(y.name), n.text_tex.rhs)


# -- graphs of existing tensors --------------------------------------------------------------

def _saved_input(op, position: int) -> np.ndarray | None:
    """The value of input ``position`` when the op saved it under the name ``forward`` gives that
    input (Mul saves ``a`` and ``b``); None when it did not, or when backward has freed it."""
    names = list(inspect.signature(type(op).forward).parameters)[1:]
    if position >= len(names):
        return None
    value = op.saved_value(names[position])
    return None if value is None else np.asarray(value)


def _replay(op, values):
    """Re-run a built-in pure op's forward on a copy, to show an intermediate value; None if unknown."""
    if not replayable(op) or any(v is None for v in values):
        return None
    clone = copy.copy(op)
    try:
        with np.errstate(all="ignore"):
            return np.asarray(clone.forward(*values))
    except (ValueError, TypeError, IndexError, ArithmeticError, ChainruleError):
        return None


def graph_from_tensor(
    root: Tensor,
    inputs: dict[int, str] | None = None,
    outputs: dict[int, tuple[int, Tensor]] | None = None,
    names: dict[int, str] | None = None,
    reserved: set[str] | None = None,
) -> tuple[Graph, dict[int, int]]:
    """The graph that produced ``root``, found by following each graph node's ``next`` links.

    Parameters
    ----------
    root : the Tensor to explain or draw.
    inputs : ``{id(leaf tensor): name}`` for the traced inputs.
    outputs : ``{id(op): (order, output tensor)}`` seen while the function ran (values
        of intermediates and the order they were computed in).
    names : ``{id(op or leaf tensor): name}`` given by :func:`chainrule.explain.name`.
    reserved : names the automatic letters must avoid.

    Returns
    -------
    (Graph, {id(op): node index}).
    """
    inputs, outputs, names = inputs or {}, outputs or {}, names or {}
    builder = GraphBuilder(set(reserved or ()) | set(inputs.values()) | set(names.values()))
    notes: list[str] = []
    leaf_vars: dict[int, int] = {}

    def leaf_var(t: Tensor) -> int:
        key = id(t)
        if key not in leaf_vars:
            if key in inputs:
                leaf_vars[key] = builder.input(inputs[key], t)
                builder.vars[leaf_vars[key]].grad = None if t.grad is None else np.asarray(t.grad)
            else:
                leaf_vars[key] = builder.leaf(t, names.get(key))
        return leaf_vars[key]

    root_node = root._node
    if root_node is None:
        out = leaf_var(root)
        return builder.finish(out, notes), {}
    # every graph node reachable from the root, in a topological (forward) order
    order: list[GraphNode] = []
    seen = {id(root_node)}
    stack = [(root_node, False)]
    freed = False
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        stack.append((node, True))
        for nxt in node.next or ():
            if type(nxt) is GraphNode and id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append((nxt, False))
        freed = freed or node.next is None
    if outputs and all(id(node.op) in outputs for node in order):
        order.sort(key=lambda n: outputs[id(n.op)][0])
    if freed:
        notes.append("part of this graph was freed by an earlier backward (pass retain_graph=True to keep it)")
    out_var: dict[int, int] = {}  # id(node) -> variable
    for node in order:
        op = node.op
        if node.next is None:  # freed by backward: what made it is gone, so it is drawn as a leaf
            made = outputs[id(op)][1] if id(op) in outputs else (root if node is root_node else None)
            value = values_of(made)
            out_var[id(node)] = builder._var(names.get(id(op)), "leaf", value, named=id(op) in names)
            continue
        in_vars = []
        for pos, nxt in enumerate(node.next):
            if nxt is None:
                in_vars.append(builder.constant(_saved_input(op, pos)))
            elif type(nxt) is GraphNode:
                in_vars.append(out_var[id(nxt)])
            else:
                in_vars.append(leaf_var(nxt))
        if id(op) in outputs:
            value, known = values_of(outputs[id(op)][1]), True
        elif node is root_node:
            value, known = values_of(root), True
        else:
            value = _replay(op, [builder.vars[i].value for i in in_vars])
            known = value is not None
        v = builder.op(op, in_vars, value, names.get(id(op)), value_known=known)
        if not known:
            builder.vars[v].value = None
        out_var[id(node)] = v
    graph = builder.finish(out_var[id(root_node)], notes)
    return graph, {id(n.op): n.index for n in graph.nodes}
