"""The isolated side of a check: ``python -m chainrule.exercise.runner NAME FILE RESULTS.json``.

Run by :func:`chainrule.exercise.isolate.run_isolated` in a process of its own, under time,
memory and output limits. It turns the network off (a learner's file has no business there),
imports the learner's file with its folder first on ``sys.path`` (so ``from blocks import
MatMul`` finds the learner's earlier exercise), runs the exercise's checks and writes their
results as JSON. Whatever the learner's code does, this process only reports; the parent decides.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import socket
import sys


class _NoNetwork(socket.socket):
    def __init__(self, *args, **kwargs):
        raise OSError("the network is off while an exercise is checked")


def _network_off() -> None:
    """Refuse every new socket and connection. Where the system allows it the runner also runs in a network
    namespace of its own (``unshare -rn``: no network at all); this guard is for the others."""
    import _socket

    socket.socket = _NoNetwork  # type: ignore[misc]
    _socket.socket = _NoNetwork  # type: ignore[misc]

    def refuse(*args, **kwargs):
        raise OSError("the network is off while an exercise is checked")

    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def _write(path: str, payload: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m chainrule.exercise.runner EXERCISE FILE RESULTS.json "
              "(run by chainrule exercise check, which sets the limits)", file=sys.stderr)
        return 2
    name, file, out = argv
    from .checks import CHECKS, _error_text

    check = CHECKS[name]  # taken before the learner's code runs, which could replace the table
    _network_off()
    folder = os.path.dirname(os.path.abspath(file))
    sys.path.insert(0, folder)
    try:
        module_name = "learner_" + name
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # as an import does: dataclasses and pickling look the module up
        spec.loader.exec_module(module)
    except MemoryError:
        _write(out, {"status": "memory"})
        return 0
    except OSError as exc:
        if exc.errno == errno.EFBIG:  # the output limit (Python ignores SIGXFSZ: the write fails instead)
            _write(out, {"status": "output"})
        else:
            _write(out, {"status": "import", "error": _error_text(exc)})
        return 0
    except BaseException as exc:  # noqa: BLE001 - a learner's file may raise anything, SystemExit included
        _write(out, {"status": "import", "error": _error_text(exc)})
        return 0
    try:
        results = check(module)
    except MemoryError:
        _write(out, {"status": "memory"})
        return 0
    except OSError as exc:
        _write(out, {"status": "output"} if exc.errno == errno.EFBIG else
               {"status": "crashed", "error": _error_text(exc)})
        return 0
    except BaseException as exc:  # noqa: BLE001
        _write(out, {"status": "crashed", "error": _error_text(exc)})
        return 0
    _write(out, {"status": "ok", "results": [r.to_dict() for r in results]})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
