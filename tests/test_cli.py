"""The command line's own behaviour: help, version, the demo, errors."""

from __future__ import annotations

import subprocess
import sys

from chainrule.cli import main


def test_demo_prints_the_three_ways_side_by_side(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "by hand (blocks)" in out and "Tensor.backward" in out and "finite differences" in out
    line = next(s for s in out.splitlines() if "largest disagreement" in s)
    assert float(line.rsplit(":", 1)[1]) < 1e-6


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_module_entry_point_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "chainrule", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("chainrule ")
