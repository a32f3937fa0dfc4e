"""Parsing expressions for explain: the whitelist, caret messages, and a fuzz test that
only chainrule's own errors ever come out (no other exception, no hang, no code run)."""

from __future__ import annotations

import random
import string
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.errors import ChainruleError, ExpressionError
from chainrule.explain import explain, parse
from chainrule.explain.parse import FUNCTIONS, MAX_DEPTH, parse_value


@pytest.mark.parametrize(
    "source, message, column",
    [
        ("a +* b", "syntax error", 3),
        ("(a + b", "syntax error", None),
        ("a.b + 1", "attribute access is not allowed", 1),
        ("x[0] * 2", "subscripts are not allowed", 1),
        ("lambda: 1", "lambdas are not allowed", 0),
        ("[i for i in a]", "comprehensions are not allowed", 0),
        ("a if b else c", "conditional expressions are not allowed", 0),
        ("__import__('os')", "dunder names", 0),
        ("a + __class__", "dunder names", 4),
        ("'s' + a", "strings are not allowed", 0),
        ("a % 2", "operator % is not allowed", 2),
        ("a < b", "comparisons are not allowed", 0),
        ("import os", "Import statements are not allowed", 0),
        ("exp(a, foo=1)", "no keyword 'foo'", 11),
        ("sum(a, axis=b)", "axis= must be a constant", 12),
        ("a = 1; a = 2; a", "assigned twice", 7),
        ("E + 1; E = 2", "only the last line may be a bare expression", 0),
        ("exp(*a)", "starred", 4),
        ("(a).real", "attribute access", 3),
        ("f = lambda: 0", "lambdas are not allowed", 4),
        ("a ; ; b", "syntax error", None),
        ("True + a", "True/False are not allowed", 0),
        ("1j * a", "complex numbers are not allowed", 0),
        ("not a", "operator 'not' is not allowed", 0),
    ],
)
def test_refused_with_a_caret(source, message, column):
    with pytest.raises(ExpressionError) as info:
        parse(source)
    text = str(info.value)
    assert message in text
    lines = text.splitlines()
    assert lines[1].strip() == source.strip()  # the expression, then the caret
    assert lines[2].strip() == "^"
    if column is not None:
        assert lines[2].index("^") - 2 == column == info.value.column


def test_caret_counts_characters_not_bytes():
    with pytest.raises(ExpressionError) as info:
        parse("μ + θ.x")
    assert info.value.column == 5
    assert str(info.value).splitlines()[2].index("^") == 2 + 5


def test_whitelist_accepts_the_documented_language():
    p = parse("mu = X @ theta\ndelta = mu - Y; L = sum(delta ** 2, axis=0, keepdims=False) / 2")
    assert p.free_names == ["X", "theta", "Y"]
    assert p.assigned == ["mu", "delta", "L"]
    for fname, fn in FUNCTIONS.items():
        args = ", ".join(["a"] * fn.tensors)
        extra = {"reshape": ", (3,)", "power": ", 2", "clip": ", 0, 1"}.get(fname, "")
        parse(f"-{fname}({args}{extra}) + +1.5e-3")


def test_limits():
    with pytest.raises(ExpressionError, match="too long"):
        parse("a + " * 1000 + "a")
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("-" * (MAX_DEPTH + 5) + "a")
    with pytest.raises(ExpressionError, match="empty"):
        parse("   ")
    with pytest.raises(ExpressionError, match="string"):
        parse(None)  # type: ignore[arg-type]


def test_values_on_the_command_line():
    np.testing.assert_array_equal(parse_value("[[1, 2], [3, -4.5e0]]"), [[1, 2], [3, -4.5]])
    assert float(parse_value("-2")) == -2.0
    for bad in ("abc", "[1, [2]]", "__import__('os')", "1 + 1", "[1,"):
        with pytest.raises(ExpressionError, match="value for"):
            parse_value(bad)


# -- fuzzing -------------------------------------------------------------------------------------------

SEEDS = [
    "(a + b) * (c - d)", "E = a + b; F = E ** 2; G = E * b; F + G", "sum((X @ w - y) ** 2)",
    "exp(a) / (1 + sqrt(abs(b)))", "mean(softmax(a, axis=0)) - max(b)", "relu(a - 1) @ b",
    "maximum(a, b) ** 3 + log(a)", "leaky_relu(a, 0.1) * tanh(b) - sigmoid(c)", "reshape(a, (2, 2))",
]
ALPHABET = string.ascii_letters[:8] + string.digits + "+-*/@()., =_;[]{}'\"<>!%&|^~:#\\\n\t" + "μθΔ∂"
_MUTATIONS = st.lists(
    st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.integers(0, 200), st.sampled_from(ALPHABET)),
    min_size=1, max_size=4,
)
_executed = {"count": 0}
_forbidden: list[str] = []
_watching = {"on": False}


def _audit(event: str, args) -> None:
    if _watching["on"] and (event in ("exec", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn",
                                      "socket.connect", "ctypes.dlopen") or event.startswith("os.spawn")):
        _forbidden.append(event)


sys.addaudithook(_audit)


def mutate(seed: str, edits) -> str:
    s = list(seed)
    for kind, pos, ch in edits:
        pos = pos % (len(s) + 1)
        if kind == "insert":
            s.insert(pos, ch)
        elif s and kind == "delete":
            del s[min(pos, len(s) - 1)]
        elif s:
            s[min(pos, len(s) - 1)] = ch
    return "".join(s)


strings = st.one_of(
    st.text(alphabet=ALPHABET, max_size=40),
    st.text(max_size=30),
    st.builds(mutate, st.sampled_from(SEEDS), _MUTATIONS),
)


def _values(names, k: int):
    shapes = [(), (2,), (2, 2), (3,)]
    return {n: np.linspace(-1.5, 2.0, int(np.prod(shapes[(i + k) % 4]))).reshape(shapes[(i + k) % 4]) + 0.1 * i
            for i, n in enumerate(names)}


def derived(seed: int, count: int) -> list[str]:
    """``count`` more strings from one seed: half random text, half mutated valid expressions
    (cheap to make, so the fuzz test sees well over 10,000 strings in a few seconds)."""
    rnd = random.Random(seed)
    out = []
    for k in range(count):
        if k % 2:
            out.append("".join(rnd.choice(ALPHABET) for _ in range(rnd.randrange(0, 40))))
        else:
            edits = [(rnd.choice(("insert", "delete", "replace")), rnd.randrange(200), rnd.choice(ALPHABET))
                     for _ in range(rnd.randrange(1, 5))]
            out.append(mutate(rnd.choice(SEEDS), edits))
    return out


def check_one(source: str, evaluate: bool) -> None:
    _executed["count"] += 1
    start = time.perf_counter()
    _watching["on"] = True
    try:
        program = parse(source)
        if evaluate and len(program.free_names) <= 4:
            explain(program, check=False, **_values(program.free_names, len(source)))
    except ChainruleError:
        pass
    finally:
        _watching["on"] = False
    assert not _forbidden, f"{source!r} triggered {_forbidden}"
    assert time.perf_counter() - start < 2.0, f"{source!r} took too long"


PER_EXAMPLE = 24


@settings(max_examples=420, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(source=strings, seed=st.integers(0, 2**32 - 1))
def test_fuzz_only_chainrule_errors(source, seed):
    """Parse every string; evaluate about one in eight on small values. Anything but a
    ChainruleError fails the test (and hypothesis shrinks the string it came from)."""
    check_one(source, evaluate=True)
    for k, text in enumerate(derived(seed, PER_EXAMPLE)):
        check_one(text, evaluate=k % 8 == 0)


def test_fuzz_ran_at_least_ten_thousand_strings():
    if _executed["count"] == 0:
        test_fuzz_only_chainrule_errors()
    assert _executed["count"] >= 10_000


# -- messages stay short and printable (issue: trust) ------------------------------------------------------


def test_a_long_line_is_quoted_as_a_window_around_the_column():
    for source in ["a*" + "(" * 500 + "1" + ")" * 500, "-" * 1500 + "a", "a" * 1990 + ".b"]:
        with pytest.raises(ExpressionError) as info:
            parse(source)
        lines = str(info.value).splitlines()
        assert len(lines) == 3 and all(len(line) <= 100 for line in lines[1:]), lines
        assert "…" in lines[1] and lines[2].strip() == "^"


@pytest.mark.parametrize("source", ["E = a \x0c+ b\nE.c", "E = a\rE.c", "E = a\r\nE.c"])
def test_lines_are_counted_as_python_counts_them(source):
    """A form feed is blank space to Python, a lone carriage return a line break: the caret names the
    line Python reports (str.splitlines would break at the form feed too and show the wrong line)."""
    with pytest.raises(ExpressionError) as info:
        parse(source)
    _, quoted, marker = str(info.value).splitlines()
    assert quoted == "  E.c" and marker == "   ^" and info.value.column == 1


def test_unprintable_characters_are_not_echoed():
    for source, hidden in [("a + \x1b[2J", "\x1b"), ("\u202ea + b", "\u202e"), ("a + b\u2066.c", "\u2066")]:
        with pytest.raises(ExpressionError) as info:
            parse(source)
        text = str(info.value)
        assert hidden not in text and "\ufffd" in text
        assert all(line.isprintable() for line in text.splitlines())


def test_a_lone_surrogate_is_refused_by_name():
    with pytest.raises(ExpressionError, match=r"lone surrogate U\+D800 \(at column 5\)") as info:
        parse("a + \ud800")
    assert info.value.column == 4
    str(info.value).encode("utf-8")
