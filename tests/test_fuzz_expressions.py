"""Fuzzing the explain parser (``chainrule.explain.parse`` and ``chainrule.explain``).

Seeded generators build well over 10,000 hostile strings, family by family: deep nesting
and long sources, huge exponents and number literals, Unicode (identifiers, combining
marks, right-to-left and bidirectional controls, emoji, NUL, lone surrogates), every
Python construct the whitelist refuses (with payloads that would call sentinels if they
ever ran), random bytes decoded as text, mutations of valid expressions and valid random
expressions. Every case must end, within one second, either in a parsed program (and, for
some, a trace or one of chainrule's own errors from evaluating it) or in one short
:class:`~chainrule.errors.ExpressionError`: bounded length, at most 100 characters on the
lines that quote the source, printable (no terminal escapes, no lone surrogates), and no
chained traceback. No case may run code: audit hooks and sentinels (``__import__``,
``os.system``, ``exec``, ``eval``, ``compile`` beyond parsing, a sentinel builtin, a
sentinel file) record anything that would.

The counts of how the cases ended are printed (``pytest -s``) and checked per family.
"""

from __future__ import annotations

import builtins
import keyword
import os
import random
import re
import subprocess
import sys
import time
import warnings
from collections import Counter
from contextlib import contextmanager

import numpy as np
import pytest

from chainrule.errors import ChainruleError, ExpressionError
from chainrule.explain import explain, parse
from chainrule.explain.parse import FUNCTIONS, MAX_LENGTH

#: Every case is answered within this many seconds (parse, and explain where it runs).
CASE_SECONDS = 1.0
#: Bounds on an error message: in all, per line, and per line quoting the expression.
MAX_MESSAGE, MAX_LINE, MAX_QUOTE_LINE = 700, 300, 100

SENTINEL = "chainrule_fuzz_sentinel"
SENTINEL_FILE = "/nonexistent/chainrule-fuzz-sentinel"

# -- watching for code being run ---------------------------------------------------------------------

_ran: list[str] = []
_watching = {"on": False}
_FORBIDDEN_EVENTS = ("exec", "os.system", "subprocess.Popen", "os.posix_spawn", "socket.connect",
                     "ctypes.dlopen", "os.remove", "os.rename", "shutil.rmtree", "os.chdir", "os.kill")


def _audit(event: str, args) -> None:
    if not _watching["on"]:
        return
    if event in _FORBIDDEN_EVENTS or event.startswith(("os.spawn", "os.exec")):
        _ran.append(event)
    elif event == "open" and args and str(args[0]) == SENTINEL_FILE:
        _ran.append(f"open({args[0]})")
    elif event == "import" and args and str(args[0]).startswith(SENTINEL):
        _ran.append(f"import {args[0]}")


sys.addaudithook(_audit)  # cannot be removed; it does nothing unless a test here is watching


@contextmanager
def sentinels(monkeypatch):
    """Record any call of __import__ (of the sentinel), os.system, exec, eval, compile (other than
    ast.parse), subprocess, or the sentinel builtin while the block runs."""
    import ast

    real_import, real_compile = builtins.__import__, builtins.compile

    def record(what):
        def called(*args, **kwargs):
            _ran.append(what)
            raise RuntimeError(f"fuzz sentinel: {what} was called")

        return called

    def watched_import(name, *args, **kwargs):
        if str(name).startswith(SENTINEL):
            _ran.append(f"__import__({name})")
        return real_import(name, *args, **kwargs)

    def watched_compile(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:  # ast.parse compiles to a tree only: allowed
            _ran.append("compile")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", watched_import)
    monkeypatch.setattr(builtins, "compile", watched_compile)
    monkeypatch.setattr(builtins, "exec", record("exec"))
    monkeypatch.setattr(builtins, "eval", record("eval"))
    monkeypatch.setattr(builtins, SENTINEL, record(SENTINEL), raising=False)
    monkeypatch.setattr(os, "system", record("os.system"))
    monkeypatch.setattr(subprocess, "Popen", record("subprocess.Popen"))
    _watching["on"] = True
    try:
        yield
    finally:
        _watching["on"] = False


# -- the generators ----------------------------------------------------------------------------------

NAMES = ["a", "b", "x", "theta", "μ", "Δ", "E", "w1"]
STATIC = {"reshape": [", (-1,)", ", -1"], "power": [", 2", ", 0.5", ", exponent=3"],
          "sum": ["", ", axis=0", ", axis=None, keepdims=True"], "mean": ["", ", axis=-1"],
          "max": ["", ", axis=0"], "min": [""], "logsumexp": ["", ", axis=0"], "softmax": ["", ", axis=0"],
          "log_softmax": [", axis=-1"], "leaky_relu": ["", ", 0.2"], "transpose": ["", ", (0,)"],
          "gelu": [""], "clip": [", -1, 1", ", 0", ", a_min=0.5, a_max=2"], "elu": ["", ", 0.5"],
          "hardtanh": ["", ", -2, 2"]}
SEEDS = [
    "(a + b) * (c - d)", "E = a + b; F = E ** 2; G = E * b; F + G", "sum((X @ w - y) ** 2)",
    "exp(a) / (1 + sqrt(abs(b)))", "mean(softmax(a, axis=0)) - max(b)", "relu(a - 1) @ b",
    "maximum(a, b) ** 3 + log(a)", "leaky_relu(a, 0.1) * tanh(b) - sigmoid(c)", "reshape(a, (2, 2))",
    "mu = X @ theta\ndelta = mu - Y\nsum(delta ** 2) / 2",
]
PAYLOADS = [
    f"__import__('{SENTINEL}')", f"__import__('os').system('{SENTINEL}')", f"os.system('{SENTINEL}')",
    f"open('{SENTINEL_FILE}')", f"{SENTINEL}()", f"exec('{SENTINEL}()')", f"eval('{SENTINEL}()')",
    f"compile('{SENTINEL}()', 's', 'exec')", "getattr(a, '__class__')", "a.__class__.__bases__[0].__subclasses__()",
    "().__class__.__mro__[1]", "globals()", "vars()", "breakpoint()", "input()", "__builtins__",
    "__loader__", "__spec__", "sys.modules", f"subprocess.run('{SENTINEL}')", f"importlib.import_module('{SENTINEL}')",
    "type(a)", "a.__dict__", f"__{SENTINEL}__",
]
CONSTRUCTS = [
    "{p}", "a + {p}", "{p}.x", "x = {p}", "lambda: {p}", "lambda a=({p}): a", "[{p} for _ in a]",
    "{{{p} for _ in a}}", "{{{p}: 1 for _ in a}}", "({p} for _ in a)", "{{{p}: 1}}", "{{{p}}}", "({p},)",
    "[{p}]", "(y := {p})", "f'{{{p}}}'", "f'{{a!r:>{{{p}}}}}'", "rf'{{{p}}}'", "*{p}", "await {p}",
    "(yield {p})", "(yield from {p})", "import os; {p}", "from os import system; {p}", "exec({q})", "eval({q})",
    "{q}", "b{q}", "{q} + a", "{p} if a else b", "a and {p}", "a or {p}", "not {p}", "a < {p}", "a[{p}]",
    "a[1:2]", "a[::{p}]", "{p}[0]", "del a", "global a", "nonlocal a", "assert {p}", "raise {p}",
    "with {p}: pass", "for i in a: {p}", "while 0: {p}", "if a: {p}", "def f(): {p}", "class C: {p}",
    "async def f(): await {p}", "try: {p}\nexcept Exception: pass", "return {p}", "pass", "break",
    "a += {p}", "a: int = {p}", "a = b = {p}", "a, b = {p}", "@{p}\ndef f(): pass", "exp({p})",
    "exp(a, **{p})", "exp(*{p})", "exp(a, {p})", "sum(a, axis={p})", "reshape(a, {p})", "power(a, {p})",
    "sum(a, keepdims={p})", "match a:\n    case 1: pass", "type X = int", "~a", "a % b", "a // b",
    "a << b", "a ^ b", "a | b", "a & b", "...", "None", "True", "a.b = 1", "__x = 1", "a.__class__ = 1",
    "a @= b", "a == b", "a is not b", "a not in b", "(lambda: {p})()", "[*a]", "{{**a}}", "a(1)",
    "a()()", "exp(a)(b)", "exp", "exp + 1", "sum = 1", "exp = a", "__builtins__ = 1", "E = __import__",
    "a.__dict__['x']", "a if b else c", "yield", "print({p})", "{p}; a", "a; {p}", "E = a\n{p}",
    "E = {p}\nE", "# {p}\na", "a # {p}", "a\\\n+ {p}", "(a,\n {p})", "exp(a,)", "exp(a,,)", "exp(a=1)",
    "sum(a, axis=(0, {p}))", "__class__", "__import__", "a.real", "a.T", "a[0]", "a[...]",
]
NUMBERS = [
    "2**1e308", "a**99999999999", "a**1e308", "a**-1e308", "2**99999999999", "1e309*a", "-1e309 + a",
    "a*1e-400", "9**9**9", "2**2**2**2**2", "(-8)**(1/3)", "0**-1", "0/0", "a/0", "0*a**1e308",
    "power(a, 1e308)", "power(a, -1e308)", "power(a, 99999999999)", "leaky_relu(a, 1e308)",
    "leaky_relu(a, -1e308)", "sum(a, axis=99999999999999999999)", "sum(a, axis=-2147483649)",
    "reshape(a, (2147483648,))", "reshape(a, (99999, 99999))", "a + 1_000_000", "0x7fffffff * a",
    "0b1 + 0o7 + 0xF", "1j", "1e", "1e+", "1.e5", ".5", "1__0", "00012", "1.5e-323 * a", "a ** 0.5",
    "a ** -0.5", "a ** 0", "0 ** 0", "exp(1e308)", "log(0)", "log(-1)", "sqrt(-1)", "nan + a", "inf * a",
]
UNICODE = {
    "greek": "αβγδεθλμπσφψωΔΘΣ",
    "cjk": "漢字変数甲乙",
    "combining": "\u0301\u0308\u20d7\u0338\u0327\u036f",
    "rtl": "אבגדשלוםمرحبا",
    "bidi": "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
    "zero_width": "\u200b\u200c\u200d\ufeff\u2060",
    "emoji": "😀🔥👍🏽💻\U0001f9ea",
    "nul_and_controls": "\x00\x1b\x07\x08\x0b\x0c\x1c\x1d\x1e\x7f\x85",
    "surrogates": "\ud800\udbff\udc00\udfff\udc80",
    "fullwidth": "＿ａｂｅｘｐ（）＋＝",
    "compatibility": "ﬁﬂℌ𝐚𝑥ℯ𝔘ⅈ",
    "math": "∂∑√∞≤×÷−",
    "separators": "\u2028\u2029\u00a0\u3000\u2003",
    "private_and_nonchars": "\ue000\uf8ff\uffff\ufffe\U0010ffff",
    "other_digits": "٣۳३௩",
}
UNICODE_TEMPLATES = ["{u}", "{u} + a", "a + {u}", "{u} = a; {u} * 2", "exp({u})", "a{u}b", "a {u} b",
                     "{u}a + 1", "a{u} + 1", "({u})", "sum(a, axis={u})", "E = a\n{u}", "'{u}'", "a # {u}",
                     "__{u}__", "{u}(a)", "{u}.x", "a[{u}]"]


def gen_nesting(rnd: random.Random) -> str:
    depth = rnd.choice([1, 2, 50, 99, 100, 101, 150, 199, 200, 201, 250, 300, 500, 999, rnd.randrange(1, 1200)])
    kind = rnd.randrange(12)
    if kind == 0:
        return "a*" + "(" * depth + "1" + ")" * depth
    if kind == 1:
        return rnd.choice("-+") * depth + "a"
    if kind == 2:
        f = rnd.choice(["exp", "tanh", "sum", "relu", "abs"])
        return f"{f}(" * depth + "a" + ")" * depth
    if kind == 3:
        op = rnd.choice(["+", "-", "*", "/", "**", "@", " + ", " ** "])
        return "a" + f"{op}a" * depth
    if kind == 4:
        return "(a+" * depth + "b" + ")" * depth
    if kind == 5:  # unbalanced
        return "a*" + "(" * depth + "1" + ")" * rnd.randrange(depth + 2)
    if kind == 6:
        return "[" * depth + "a" + "]" * depth
    if kind == 7:
        return "sum(a, axis=" + "(" * depth + "0" + ",)" * depth + ")"
    if kind == 8:
        return "exp(" * depth + "a" + ")" * depth + "+" + "-" * depth + "b"
    if kind == 9:
        return "".join(rnd.choice(["-", "(", "exp(", "+"]) for _ in range(depth)) + "a" + ")" * depth
    if kind == 10:
        return "\n".join(f"v{i} = v{i - 1} + 1" if i else "v0 = a" for i in range(min(depth, 400))) + "\nv0"
    return "a" + "**a" * depth


def gen_length(rnd: random.Random) -> str:
    n = rnd.choice([MAX_LENGTH - 1, MAX_LENGTH, MAX_LENGTH + 1, rnd.randrange(1, 10_000)])
    kind = rnd.randrange(9)
    if kind == 0:
        return ("a+" * n)[:n - 1] + "a"
    if kind == 1:
        return "1" * n
    if kind == 2:
        return "a" * n
    if kind == 3:
        return " " * (n - 1) + "a"
    if kind == 4:
        return "a #" + "x" * n
    if kind == 5:
        return "a" * (n // 2) + ".b + " + "c" * (n // 2)
    if kind == 6:
        return "a +* b" + " " * n + "# end"
    if kind == 7:
        return "exp(a) + " * (n // 9) + "(a"
    return "'" + "x" * n + "'"


def gen_numbers(rnd: random.Random) -> str:
    kind = rnd.randrange(6)
    if kind == 0:
        return rnd.choice(NUMBERS)
    if kind == 1:
        return str(rnd.randrange(10 ** rnd.randrange(1, 400))) + rnd.choice(["", " * a", " + a", "*a**2"])
    if kind == 2:
        return f"a ** {rnd.choice(['', '-'])}{rnd.randrange(1, 10**12)}{rnd.choice(['', '.5', 'e300', 'e-300'])}"
    if kind == 3:
        return f"2 ** {rnd.choice(['1e308', '1e-308', '1024', '1023.9', '-1075', str(rnd.randrange(10**15))])}"
    if kind == 4:
        return "0x" + "".join(rnd.choice("0123456789abcdef") for _ in range(rnd.randrange(1, 1990)))
    return "1." + "5" * rnd.randrange(1, 1990) + rnd.choice(["", "e308", "e-400", " * a"])


def gen_unicode(rnd: random.Random) -> str:
    pool = UNICODE[rnd.choice(sorted(UNICODE))]
    u = "".join(rnd.choice(pool) for _ in range(rnd.randrange(1, 6)))
    if rnd.random() < 0.3:
        u = rnd.choice(NAMES) + u
    if rnd.random() < 0.2:
        u = u * rnd.randrange(1, 600)
    return rnd.choice(UNICODE_TEMPLATES).format(u=u)


def gen_constructs(rnd: random.Random) -> str:
    kind = rnd.randrange(5)
    if kind == 0:
        kw = rnd.choice(keyword.kwlist + keyword.softkwlist)
        return rnd.choice(["{k}", "a + {k}", "{k} = 1", "{k}(a)", "{k} a", "a {k} b", "exp({k})"]).format(k=kw)
    if kind == 1:
        word = rnd.choice(["import", "class", "builtins", "dict", "globals", SENTINEL, "x", ""])
        return rnd.choice(["__{w}__", "__{w}__ + a", "__{w}__ = a; a", "exp(__{w}__)", "_{w}", "a._{w}"]).format(w=word)
    p = rnd.choice(PAYLOADS)
    return rnd.choice(CONSTRUCTS).format(p=p, q=repr(p))


def gen_bytes(rnd: random.Random) -> str:
    n = rnd.randrange(0, 80)
    if rnd.random() < 0.5:  # bytes near the expression alphabet
        raw = bytes(rnd.choice(b"ab+-*/@()., =_;[]{}'\"<>!%&|^~:#\\\n\t0123456789\x00\xff\xce\xbc")
                    for _ in range(n))
    else:
        raw = rnd.randbytes(n)
    codec, errors = rnd.choice([("utf-8", "replace"), ("utf-8", "ignore"), ("utf-8", "surrogateescape"),
                                ("latin-1", "strict"), ("utf-16-le", "surrogatepass"), ("cp1252", "replace"),
                                ("utf-32-le", "replace")])
    if codec.startswith("utf-16") and len(raw) % 2:
        raw = raw[:-1]
    return raw.decode(codec, errors=errors)


MUTATION_ALPHABET = ("abcdE012+-*/@()., =_;[]{}'\"<>!%&|^~:#\\\n\t" + "μθΔ∂" + "\u202e\u200b\u0301😀\x00\ud800ﬁ")


def gen_mutations(rnd: random.Random) -> str:
    s = list(rnd.choice(SEEDS))
    for _ in range(rnd.randrange(1, 6)):
        pos = rnd.randrange(len(s) + 1)
        kind = rnd.randrange(4)
        if kind == 0:
            s.insert(pos, rnd.choice(MUTATION_ALPHABET))
        elif kind == 1 and s:
            del s[min(pos, len(s) - 1)]
        elif kind == 2 and s:
            s[min(pos, len(s) - 1)] = rnd.choice(MUTATION_ALPHABET)
        else:  # duplicate a slice
            i, j = sorted((rnd.randrange(len(s) + 1), rnd.randrange(len(s) + 1)))
            s[pos:pos] = s[i:j]
    return "".join(s)


def _valid_expr(rnd: random.Random, depth: int) -> str:
    if depth <= 0 or rnd.random() < 0.25:
        return rnd.choice(NAMES[:4] + [str(rnd.randrange(5)), f"{rnd.uniform(-3, 3):.3g}"])
    kind = rnd.randrange(4)
    if kind == 0:
        op = rnd.choice(["+", "-", "*", "/", "**", "@"])
        return f"({_valid_expr(rnd, depth - 1)} {op} {_valid_expr(rnd, depth - 1)})"
    if kind == 1:
        return f"-{_valid_expr(rnd, depth - 1)}"
    name = rnd.choice(sorted(FUNCTIONS))
    fn = FUNCTIONS[name]
    args = ", ".join(_valid_expr(rnd, depth - 1) for _ in range(fn.tensors))
    return f"{name}({args}{rnd.choice(STATIC.get(name, ['']))})"


def gen_valid(rnd: random.Random) -> str:
    if rnd.random() < 0.3:
        first = _valid_expr(rnd, 3)
        return f"E = {first}; F = E * {_valid_expr(rnd, 2)}\nF + E"
    return _valid_expr(rnd, rnd.randrange(1, 6))


#: family: (generator, number of cases, evaluate one parsed case in this many)
FAMILIES = {
    "nesting": (gen_nesting, 2000, 3),
    "length": (gen_length, 1500, 3),
    "numbers": (gen_numbers, 2000, 2),
    "unicode": (gen_unicode, 3000, 3),
    "constructs": (gen_constructs, 3500, 2),
    "bytes": (gen_bytes, 3000, 2),
    "mutations": (gen_mutations, 3000, 4),
    "valid": (gen_valid, 2000, 3),
}


# -- checking one case -------------------------------------------------------------------------------


def _values(names, k: int) -> dict:
    shapes = [(), (2,), (2, 2), (3,)]
    return {n: np.linspace(-1.5, 2.0, int(np.prod(shapes[(i + k) % 4]))).reshape(shapes[(i + k) % 4]) + 0.1 * i
            for i, n in enumerate(names)}


def check_message(source: str, err: Exception) -> None:
    """One short, printable message, quoting at most a window of the source; no chained traceback."""
    message = str(err)
    where = f"{source[:80]!r} -> {message[:300]!r}"
    assert message.strip(), where
    assert len(message) <= MAX_MESSAGE, f"{len(message)} characters: {where}"
    lines = message.split("\n")
    for line in lines:
        limit = MAX_QUOTE_LINE if line.startswith("  ") else MAX_LINE
        assert len(line) <= limit, f"a line of {len(line)} characters: {where}"
        assert line.isprintable(), f"unprintable characters in the message: {where}"
    message.encode("utf-8")  # no lone surrogates: printable to any UTF-8 terminal or file
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__), where
    if isinstance(err, ExpressionError) and err.column is not None:
        assert 0 <= err.column <= len(source), where


def run_case(source: str, evaluate: bool, counts: Counter, failures: list) -> None:
    start = time.perf_counter()
    try:
        program = parse(source)
    except ExpressionError as err:
        counts["ExpressionError"] += 1
        check_message(source, err)
    except Exception as err:  # noqa: BLE001 - the point: nothing else may come out
        counts["other"] += 1
        failures.append(f"{source[:120]!r}: {type(err).__name__}: {str(err)[:200]}")
    else:
        counts["parsed"] += 1
        if evaluate and len(program.free_names) <= 4:
            try:  # the text again, as a user gives it; one in ten also checks its gradients numerically
                trace = explain(source, check=len(source) % 10 == 0, **_values(program.free_names, len(source)))
            except ChainruleError as err:
                counts["evaluated: chainrule error"] += 1
                check_message(source, err)
            except Exception as err:  # noqa: BLE001
                counts["other"] += 1
                failures.append(f"explain {source[:120]!r}: {type(err).__name__}: {str(err)[:200]}")
            else:
                counts["evaluated: trace"] += 1
                assert trace.render("text")
    elapsed = time.perf_counter() - start
    assert elapsed < CASE_SECONDS, f"{source[:80]!r} took {elapsed:.2f} s"
    assert not _ran, f"{source[:120]!r} ran code: {_ran}"


def test_the_families_make_at_least_ten_thousand_cases():
    assert sum(count for _, count, _ in FAMILIES.values()) >= 10_000


@pytest.fixture(scope="module")
def warm():
    """Import and build everything explain uses once, so the watch sees only what the cases do."""
    explain("E = exp(a) * b; sum(E) / 2", check=False, a=[1.0, 2.0], b=[3.0, 4.0]).render("text")


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fuzz_family(family, monkeypatch, warm):
    generate, count, every = FAMILIES[family]
    rnd = random.Random(f"chainrule-fuzz-{family}")
    sources = [generate(rnd) for _ in range(count)]  # made before the watch: decoding may import codecs
    counts: Counter = Counter()
    failures: list[str] = []
    _ran.clear()
    with warnings.catch_warnings(), np.errstate(all="ignore"), sentinels(monkeypatch):
        warnings.simplefilter("ignore")  # overflow in a**1e308 and the like is the right answer, not a failure
        for k, source in enumerate(sources):
            run_case(source, evaluate=k % every == 0, counts=counts, failures=failures)
    print(f"\n{family}: {count} cases: {dict(sorted(counts.items()))}")
    assert not failures, "\n".join(failures[:20])
    assert counts["parsed"] + counts["ExpressionError"] == count
    if family == "valid":
        assert counts["parsed"] == count and counts["evaluated: trace"] > 0
    elif family in ("constructs", "nesting"):
        assert counts["ExpressionError"] > count // 2


# -- named cases from the issue ------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "a*" + "(" * 500 + "1" + ")" * 500,          # Python's own limit: "too many nested parentheses"
    "a*" + "(" * 150 + "1" + ")" * 150 + " + b.c",
    "-" * 1500 + "a",                             # our limit: more than MAX_DEPTH levels
    "exp(" * 120 + "a" + ")" * 120,
    "a" * 1990 + "(",
    "1" * 1999,
    "x" * 1000 + ".y",
    "a + " + "\u202e" * 500 + "b",
])
def test_deep_and_long_sources_give_short_messages(source, monkeypatch, warm):
    with sentinels(monkeypatch):
        start = time.perf_counter()
        with pytest.raises(ExpressionError) as info:
            parse(source)
        assert time.perf_counter() - start < CASE_SECONDS
    check_message(source, info.value)
    quoted = [line for line in str(info.value).split("\n") if line.startswith("  ")]
    assert quoted and all(len(line) <= MAX_QUOTE_LINE for line in quoted)


@pytest.mark.parametrize("source, wide", [
    ("a + " * 60 + "b.c + d", False),
    ("a + " * 60 + "b.c" + " + d" * 30, False),
    ("漢" * 300 + ".c" + "字" * 100, True),  # two terminal columns a character: the caret counts columns
])
def test_the_caret_stays_under_the_column_in_a_window(source, wide):
    with pytest.raises(ExpressionError) as info:
        parse(source)
    _, quoted, marker = str(info.value).split("\n")
    assert quoted.startswith("  …") and len(quoted) <= MAX_QUOTE_LINE and len(marker) <= MAX_QUOTE_LINE
    assert info.value.column == source.index(".")
    dot = quoted.index(".")
    assert marker.index("^") == (2 + 1 + 2 * (dot - 3) if wide else dot)


@pytest.mark.parametrize("source, value", [
    ("2**1e308", np.inf), ("2**99999999999", np.inf), ("a**99999999999", None), ("a**1e308", None),
    ("1e309 * a", None), ("0 * 2**1e308", np.nan),
])
def test_huge_exponents_parse_and_evaluate(source, value):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = explain(source, check=False, **({"a": 2.0} if "a" in source else {}))
    if value is not None:
        np.testing.assert_equal(float(trace.value), value)
    else:
        assert float(trace.value) == np.inf


@pytest.mark.parametrize("source, message", [
    ("9" * 400, "number too large"),
    ("\x00", "NUL"),
    ("a + \ud800", "lone surrogate U+D800"),
    ("a\x1b[31m + b", "non-printable character U+001B"),
    ("\u202ea + b", "non-printable character U+202E"),
    ("😀 + a", "invalid character"),
    ("＿＿import＿＿('os')", "invalid character"),
    ("a.__class__", "attribute access"),
    (f"__import__('{SENTINEL}')", "dunder names"),
])
def test_hostile_text_is_refused_with_a_printable_message(source, message, monkeypatch, warm):
    with sentinels(monkeypatch):
        with pytest.raises(ExpressionError, match=re.escape(message)) as info:
            parse(source)
    check_message(source, info.value)
    assert "\x1b" not in str(info.value) and "\u202e" not in str(info.value)


def test_unicode_identifiers_are_names():
    assert explain("μ * θ + á", check=False, μ=2.0, θ=3.0, á=1.0).value == 7.0
    # Python folds compatibility characters (NFKC): the ligature ﬁ names the input 'fi'
    assert parse("ﬁ + 1").free_names == ["fi"]


def test_many_and_long_names_are_cut_short_in_messages():
    names = [f"v{i}_" + "x" * 60 for i in range(40)]
    source = " + ".join(names[:20])
    with pytest.raises(ExpressionError) as info:
        explain(source, check=False)
    check_message(source, info.value)
    assert "and 17 more" in str(info.value)


def test_the_watch_sees_code_being_run(monkeypatch, warm):
    """The sentinels are not vacuous: Python itself running a payload is caught."""
    real_eval, real_compile = builtins.eval, builtins.compile
    _ran.clear()
    with sentinels(monkeypatch):
        with pytest.raises(RuntimeError):
            eval("1")  # the patched builtin
        for payload in (f"{SENTINEL}()", f"__import__('{SENTINEL}')", f"open('{SENTINEL_FILE}')"):
            with pytest.raises((RuntimeError, ImportError, OSError)):
                real_eval(real_compile(payload, "<payload>", "eval"), {"__builtins__": builtins})
        compile("1", "<payload>", "eval")  # compiling to code (not to a tree) is caught too
        caught = list(_ran)
    _ran.clear()
    for expected in ("eval", SENTINEL, f"__import__({SENTINEL})", f"open({SENTINEL_FILE})", "compile"):
        assert expected in caught, (expected, caught)
