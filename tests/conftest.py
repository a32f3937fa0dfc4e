"""Shared test set-up.

The PyTorch oracle: tests that compare with PyTorch take the ``torch`` fixture.
Where torch is not installed they are skipped, unless the environment variable
``CHAINRULE_REQUIRE_ORACLE=1`` is set (CI sets it), which turns the skip into a
failure so the comparison can never silently vanish.
"""

from __future__ import annotations

import builtins
import importlib
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


# Learner-facing texts follow the locale (chainrule.lang): the tests read English unless a test sets LANG.
for _key in ("LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_key, None)
os.environ["LANG"] = "C.UTF-8"


def _load_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("CHAINRULE_REQUIRE_ORACLE") == "1":
            pytest.fail("CHAINRULE_REQUIRE_ORACLE=1 but PyTorch is not installed (pip install -e '.[oracle]')")
        pytest.skip("PyTorch oracle not installed (pip install -e '.[oracle]')")
    torch.set_default_dtype(torch.float64)
    return torch


@pytest.fixture
def torch():
    """The PyTorch module, set to float64; skip (or fail under CHAINRULE_REQUIRE_ORACLE=1) without it."""
    return _load_torch()


@pytest.fixture
def hide_package(monkeypatch):
    """``hide_package("sklearn")``: the package looks uninstalled for the rest of the test.

    Every import of it or its submodules fails with ImportError, whether by an import
    statement or by :func:`importlib.import_module` (which :func:`chainrule.errors.require`
    uses), and its modules already imported are taken out of ``sys.modules`` (all put back
    afterwards).
    """
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def hide(package: str) -> None:
        def hidden(name: str) -> bool:
            return name == package or name.startswith(package + ".")

        def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0 and hidden(name):
                raise ImportError(f"No module named {name!r} (hidden by the test)")
            return real_import(name, globals, locals, fromlist, level)

        def fake_import_module(name, package=None):
            if hidden(name):
                raise ImportError(f"No module named {name!r} (hidden by the test)")
            return real_import_module(name, package)

        monkeypatch.setattr(builtins, "__import__", fake_import)
        monkeypatch.setattr(importlib, "import_module", fake_import_module)
        for name in [m for m in sys.modules if hidden(m)]:
            monkeypatch.delitem(sys.modules, name)

    return hide


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every random test is reproducible."""
    return np.random.default_rng(12345)
