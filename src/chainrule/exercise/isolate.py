"""Running a learner's file apart: a child process with a time limit, a memory limit and an output limit.

A file that loops, allocates without end, prints megabytes or crashes the interpreter ends as one
:class:`Outcome` with a status (``ok``, ``timeout``, ``memory``, ``output``, ``import``,
``exited``, ``crashed``), never as a hung or dead checker: ``chainrule exercise grade`` goes on
with the next. Where the system allows it the child has no network at all (``unshare -rn``);
elsewhere Python's sockets are refused. This isolates mistakes, not intent: the learner's code
runs in the same process as the checks, so a file written to fool the checker can; a teacher
grading for marks reads the code too.
Limits are set with ``resource`` in the child before it starts (POSIX); the child's own process
group is killed at the time limit, so a file that starts processes leaves none behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

#: Defaults: seconds of wall time, MiB of address space, KiB of output (stdout and stderr together).
TIMEOUT_S = 120.0
MEMORY_MB = 2048
OUTPUT_KB = 1024


@dataclass
class Outcome:
    """How a run ended: ``status``, the checks' results (dicts of :class:`~.checks.Result`) when it ran,
    the error text, and the tail of what the file printed."""

    status: str
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    printed: str = ""
    limits: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "ok" and bool(self.results) and all(r["passed"] for r in self.results)


def _limits(memory_mb: int, output_kb: int, cpu_s: float):
    def apply() -> None:  # in the child, before exec
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (output_kb * 1024, output_kb * 1024))
        cpu = int(cpu_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


_NETWORK_NAMESPACE: list[bool] = []


def network_namespace() -> bool:
    """Whether ``unshare -rn`` can run a process without any network here (Linux with user namespaces);
    asked once per process."""
    if not _NETWORK_NAMESPACE:
        import shutil

        ok = False
        if shutil.which("unshare"):
            try:
                ok = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
        _NETWORK_NAMESPACE.append(ok)
    return _NETWORK_NAMESPACE[0]


def run_isolated(name: str, file: str, *, timeout: float = TIMEOUT_S, memory_mb: int = MEMORY_MB,
                 output_kb: int = OUTPUT_KB) -> Outcome:
    """Check ``file`` as exercise ``name`` in a child process under the limits; never raises for what the
    file does."""
    limits = {"timeout_s": timeout, "memory_mb": memory_mb, "output_kb": output_kb}
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"})
    with tempfile.TemporaryDirectory(prefix="chainrule-check-") as tmp:
        out_path, log_path = os.path.join(tmp, "results.json"), os.path.join(tmp, "printed.txt")
        with open(log_path, "wb") as log:
            command = [sys.executable, "-m", "chainrule.exercise.runner", name, os.path.abspath(file), out_path]
            if network_namespace():  # no network at all, not only Python's sockets refused
                command = ["unshare", "-rn", *command]
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                preexec_fn=_limits(memory_mb, output_kb, timeout), start_new_session=True)
            try:
                code = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                code = None
        with open(log_path, "rb") as log:
            printed = log.read()[-4000:].decode("utf-8", "replace")
        try:  # the child may have started processes of its own: none outlives the check
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if code is None:
            return Outcome("timeout", printed=printed, limits=limits)
        if code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
            return Outcome("output", printed=printed, limits=limits)
        if code in (-signal.SIGXCPU, -signal.SIGKILL):
            return Outcome("timeout", printed=printed, limits=limits)
        try:
            with open(out_path, encoding="utf-8") as f:
                payload = json.load(f)
        except (OSError, ValueError):
            if "MemoryError" in printed:
                return Outcome("memory", printed=printed, limits=limits)
            if code is not None and code >= 0:  # the file ended the process itself (os._exit, a fatal error)
                return Outcome("exited", error=str(code), printed=printed, limits=limits)
            return Outcome("crashed", error=f"exit status {code}: {printed.strip()[-300:]}", printed=printed,
                           limits=limits)
    return Outcome(payload.get("status", "crashed"), payload.get("results", []), payload.get("error"), printed,
                   limits)


__all__ = ["Outcome", "run_isolated", "TIMEOUT_S", "MEMORY_MB", "OUTPUT_KB"]
