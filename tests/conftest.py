"""Shared test set-up.

The PyTorch oracle: tests that compare with PyTorch take the ``torch`` fixture.
Where torch is not installed they are skipped, unless the environment variable
``CHAINRULE_REQUIRE_ORACLE=1`` is set (CI sets it), which turns the skip into a
failure so the comparison can never silently vanish.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


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
def rng() -> np.random.Generator:
    """A seeded generator: every random test is reproducible."""
    return np.random.default_rng(12345)
