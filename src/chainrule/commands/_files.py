"""The files a command reads and writes, checked before it does any work.

Every command calls :func:`check_files` first: each output path is checked with
:func:`chainrule.files.output_path` (not a folder, a folder that exists and can be
written, not a device such as ``/dev/full``) and by creating a file in its folder; a
plot's file name must name an image type (and matplotlib must be installed), no two
outputs may name the same file, no output may be one of the command's input files
(that would destroy it), and ``--save`` replaces
an existing file only when it is a chainrule model file (or with ``--force``). Input
files are checked with :func:`chainrule.files.input_file` (a regular, readable file: not
a folder, ``/dev/zero`` or a pipe). Every refusal is a one-line
:class:`~chainrule.errors.ChainruleError` naming the option and the file.

The files themselves are written through :mod:`chainrule.files` (a temporary file that
replaces the target at once), see :func:`write_json` and :func:`write_text`.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ..errors import ChainruleError, SerializationError
from ..files import check_path, input_file, output_path, write_text_atomically

#: Output kinds: a plot must name an image type, a model file (or a training checkpoint) is only
#: replaced when it is one.
PLOT, MODEL, CHECKPOINT, FILE = "plot", "model", "checkpoint", "file"


def _same(a: str, b: str) -> bool:
    """Whether two paths name the same file (through links; by inode when both exist)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def probe_folder(target: str, flag: str, path: str) -> None:
    """Create (and remove) a file in the folder ``target`` will be written in: the write itself
    makes its temporary file there, and only trying shows that it can (``/proc``, a read-only
    mount, a full quota look writable to :func:`os.access`)."""
    folder = os.path.dirname(target) or "."
    try:
        fd, probe = tempfile.mkstemp(prefix=".chainrule-probe-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ChainruleError(f"{flag} {path!r}: cannot write in the folder {folder!r} "
                             f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def check_input(path: Any, flag: str) -> str:
    """``path`` checked as a file to read (:func:`chainrule.files.input_file`); one line naming ``flag`` if not."""
    text = check_path(path, flag)
    input_file(text, f"{flag} file")
    return text


def check_model_target(path: str, flag: str = "--save", force: bool = False, kind: str = MODEL) -> None:
    """An existing file at ``path`` may be replaced by a model (or a training checkpoint) only when it
    is one (its safetensors metadata says so), or when ``force`` is set."""
    from ..serialization import FORMAT, read_metadata
    from ..train.checkpoint import FORMAT as CHECKPOINT_FORMAT

    target = os.path.realpath(path)
    if force or not os.path.exists(target):
        return
    try:
        meta = read_metadata(target)
    except SerializationError:
        meta = {}
    wanted, what = (FORMAT, "model") if kind == MODEL else (CHECKPOINT_FORMAT, "training checkpoint")
    if meta.get("format") != wanted:
        raise ChainruleError(f"{flag} {path!r}: the file exists and is not a chainrule {what} file; "
                             f"pass --force to replace it")


def check_files(outputs: dict[str, tuple[Any, str]], inputs: dict[str, Any] | None = None,
                force: bool = False) -> None:
    """Check a command's files before it does any work.

    Parameters
    ----------
    outputs : ``{flag: (path or None, kind)}`` with kind :data:`PLOT`, :data:`MODEL` or :data:`FILE`;
        a ``None`` path (option not given) is skipped.
    inputs : ``{flag: path or None}``: the files the command reads (checked to be readable regular
        files, and never to be written).
    force : ``--force``: a model output may replace any existing file.
    """
    given_inputs = {flag: check_path(path, flag) for flag, path in (inputs or {}).items() if path is not None}
    for flag, path in given_inputs.items():
        check_input(path, flag)
    seen: dict[str, str] = {}
    for flag, (path, kind) in outputs.items():
        if path is None:
            continue
        path = check_path(path, flag)
        if not path:
            raise ChainruleError(f"{flag}: the file name is empty")
        probe_folder(str(output_path(path, f"{flag} file")), flag, path)
        if kind == PLOT:
            from ..train.plots import check_plot_target

            check_plot_target(path, f"{flag} file")
        for in_flag, in_path in given_inputs.items():
            if _same(path, in_path):
                raise ChainruleError(f"{flag} {path!r} is the file read by {in_flag}; writing it would destroy "
                                     f"it: choose another name")
        for other_flag, other in seen.items():
            if _same(path, other):
                raise ChainruleError(f"{other_flag} and {flag} both name {path!r}; give each output its own file")
        seen[flag] = path
        if kind in (MODEL, CHECKPOINT):
            check_model_target(path, flag, force, kind)


def write_text(path: str, text: str, what: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`chainrule.files.write_text_atomically`)."""
    write_text_atomically(path, text, what)


def write_json(path: str, data: Any, what: str) -> None:
    """Write ``data`` to ``path`` as indented JSON, atomically, and say so (``--history``, ``--json``).

    NaN and infinite values are written as JSON's common extension ``NaN`` / ``Infinity``
    (Python's :mod:`json` and JavaScript's ``JSON5`` read them).
    """
    write_text_atomically(path, json.dumps(data, indent=1), what)
    print(f"wrote {what} to {path}")
