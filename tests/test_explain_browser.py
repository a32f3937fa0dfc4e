"""The interactive page in a real browser: headless Chromium from the system package,
driven by Playwright (no browser download). Clicks through every step and checks the
highlighted node and the numbers shown against the trace.

Skipped when Playwright or /usr/bin/chromium is missing, unless CHAINRULE_REQUIRE_BROWSER=1
(CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from chainrule.explain import explain, lecture
from chainrule.explain.notation import fmt_value

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _unavailable(reason: str):
    if os.environ.get("CHAINRULE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CHAINRULE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def open_page(browser, trace, tmp_path: Path):
    path = tmp_path / "trace.html"
    trace.save(path)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"network request: {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    return page, errors


SNAPSHOT = """() => {
  const names = sel => [...document.querySelectorAll(sel)].map(e => e.dataset.name);
  const fields = {};
  document.querySelectorAll("#detail dd").forEach(dd => { fields[dd.dataset.field] = dd.textContent; });
  const drawn = {};
  document.querySelectorAll(".node.var").forEach(g => {
    drawn[g.dataset.name] = {value: g.querySelector("text.value").textContent,
                             grad: g.querySelector("text.grad").textContent};
  });
  const op = document.querySelector(".node.op.current");
  return {step: document.body.dataset.step, phase: document.getElementById("phase").textContent,
          counter: document.getElementById("counter").textContent, current: names(".node.var.current"),
          op: op ? op.id : null, operands: names(".node.operand"), receivers: names(".node.receiver"),
          back: document.querySelectorAll(".edge.back").length, fields, drawn,
          prev: document.getElementById("prev").disabled, next: document.getElementById("next").disabled};
}"""


def walk(page, trace):
    """Click "step forward" through every step, checking what the page shows against the trace."""
    total = len(trace.forward_steps) + len(trace.backward_steps)
    st = page.evaluate(SNAPSHOT)
    assert st["counter"] == f"step 0 of {total}" and st["prev"] and not st["next"]
    assert st["current"] == [] and st["op"] is None
    for v in trace.graph.vars:  # before the forward pass only the inputs have values
        expected = "?" if v.kind in ("intermediate", "output") else fmt_value(v.value)
        assert st["drawn"][v.name] == {"value": expected, "grad": ""}, v.name
    k = 0
    for s in trace.forward_steps:
        page.click("#next", no_wait_after=True)  # a real mouse click on the button
        k += 1
        st = page.evaluate(SNAPSHOT)
        assert st["step"] == str(k) and st["phase"] == "forward pass"
        assert st["current"] == [s.name] and st["op"] == f"op{s.node}"
        assert st["fields"]["operation"] == s.formula
        assert st["fields"]["value"] == f"{s.name} = {fmt_value(s.value)}"
        assert st["drawn"][s.name]["value"] == fmt_value(s.value)
        assert sorted(st["operands"]) == sorted(set(s.inputs))
    for s in trace.backward_steps:
        page.click("#next", no_wait_after=True)
        k += 1
        st = page.evaluate(SNAPSHOT)
        assert st["step"] == str(k) and st["phase"] == "backward pass"
        assert st["current"] == [s.name], s
        f = st["fields"]
        if s.kind == "seed":
            assert f["upstream"] == f"{s.symbol} = {fmt_value(s.upstream)}"
        elif s.kind == "sum":
            assert f["total"] == f"{s.symbol} = {fmt_value(s.total)}"
            for t in s.terms:
                assert f"{fmt_value(t.value)} (via {t.via})" in f["terms"]
            assert st["drawn"][s.name]["grad"] == "∂ " + fmt_value(s.total)
        else:
            assert st["op"] == f"op{s.node}"
            assert f["upstream"] == f"{s.symbol} = {fmt_value(s.upstream)}"
            assert st["drawn"][s.name]["grad"] == "∂ " + fmt_value(s.upstream)
            for loc in s.locals:
                assert loc.text in f["local"]
                assert f"{loc.chain} = {fmt_value(loc.contribution)}" in f["passed"]
            assert sorted(set(st["receivers"])) == sorted({loc.input for loc in s.locals})
            assert st["back"] == len(s.locals)
    assert st["next"] and st["counter"] == f"step {total} of {total}"
    for name, grad in trace.gradients.items():  # the drawing ends with every gradient written down
        assert st["drawn"][name]["grad"] == "∂ " + fmt_value(grad)
    return total


@pytest.mark.parametrize("k", [1, 2, 3])
def test_page_steps_through_the_lecture(browser, k, tmp_path):
    trace = lecture(k)
    page, errors = open_page(browser, trace, tmp_path)
    total = walk(page, trace)
    # and back again: "step backward" undoes, down to the start
    for _ in range(total):
        page.dispatch_event("#prev", "click")
    st = page.evaluate(SNAPSHOT)
    assert st["step"] == "0" and st["prev"] and st["drawn"][trace.output] == {"value": "?", "grad": ""}
    # the keyboard works too
    page.keyboard.press("ArrowRight")
    assert page.evaluate(SNAPSHOT)["current"] == [trace.forward_steps[0].name]
    page.click("#reset", no_wait_after=True)
    assert page.get_attribute("body", "data-step") == "0"
    shot = Path(tempfile.gettempdir()) / f"chainrule-lecture{k}.png"
    for _ in range(len(trace.forward_steps) + 2):
        page.dispatch_event("#next", "click")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert errors == []
    page.close()


def test_page_with_arrays_and_a_summed_input(browser, tmp_path):
    trace = explain("sum(relu(x * w + b) * x)", x=[1.0, -2.0, 3.0], w=[0.5, 0.5, -1.0], b=0.25)
    page, errors = open_page(browser, trace, tmp_path)
    walk(page, trace)
    assert errors == []
    page.close()
