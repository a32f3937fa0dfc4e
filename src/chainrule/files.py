"""Reading and writing files safely: one clear error for a path that cannot be used, and
writes that never leave a half-written file behind.

Every file chainrule writes (a model, a history, a rendering, a plot, predictions)
goes through :func:`write_atomically`: the bytes go to a temporary file in the same
folder, which then replaces the target in one step (``os.replace``). A process
killed in the middle leaves the previous file as it was. An existing file keeps
its permissions, and a symbolic link is written through: its target is replaced,
the link stays a link.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ChainruleError, shorten


def output_path(path: str | os.PathLike, what: str = "output file") -> Path:
    """``path`` checked as a file to write: not a folder, in a folder that exists and that
    can be written to. A symbolic link resolves to the file it points at.

    Raises :class:`ChainruleError` with one line naming ``what`` and the path.
    """
    given = _path(path, what)
    target = Path(os.path.realpath(given))
    if target.is_dir():
        raise ChainruleError(f"{what} {os.fspath(given)!r} is a folder, not a file")
    if target.exists() and not target.is_file():
        raise ChainruleError(f"{what} {os.fspath(given)!r} is not a regular file (a device, a pipe or a socket)")
    folder = target.parent
    if not folder.is_dir():
        raise ChainruleError(f"{what} {os.fspath(given)!r}: the folder {os.fspath(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ChainruleError(f"{what} {os.fspath(given)!r}: cannot write in the folder {os.fspath(folder)!r}")
    return target


def input_file(path: str | os.PathLike, what: str = "input file") -> Path:
    """``path`` checked as a file to read: it exists, is a regular file (not a folder, a
    device such as /dev/zero, or a socket) and can be read.

    Raises :class:`ChainruleError` with one line naming ``what`` and the path.
    """
    given = _path(path, what)
    if not given.exists():
        raise ChainruleError(f"{what} {os.fspath(given)!r} does not exist")
    if given.is_dir():
        raise ChainruleError(f"{what} {os.fspath(given)!r} is a folder, not a file")
    if not given.is_file():
        raise ChainruleError(f"{what} {os.fspath(given)!r} is not a regular file (a device, a pipe or a socket)")
    if not os.access(given, os.R_OK):
        raise ChainruleError(f"{what} {os.fspath(given)!r} cannot be read (permission denied)")
    return given


def check_path(path: Any, who: str, error: type[Exception] = ChainruleError) -> str:
    """A file name given as ``str`` or ``os.PathLike`` (to text), without NUL characters, as text.

    Raises ``error`` with one line naming ``who`` otherwise: the one check of a file name that
    the readers, the writers and the command line share.
    """
    try:
        text = os.fspath(path)
    except TypeError:
        text = None
    if not isinstance(text, str):
        raise error(f"{who}: expected a file name (str or os.PathLike), got {_shown(path)}")
    if "\0" in text:
        raise error(f"{who}: the file name {_shown(text)} contains a NUL character")
    return text


def _shown(value: Any) -> str:
    return shorten(repr(value))


def _path(path: str | os.PathLike | bytes, what: str) -> Path:
    """:func:`check_path`, a file name in bytes decoded first (as the OS would)."""
    return Path(check_path(os.fsdecode(path) if isinstance(path, bytes) else path, what))


def write_atomically(path: str | os.PathLike, write: Callable[[str], None], what: str = "output file") -> Path:
    """Write a file through ``write(temporary_path)``, then put it in place of ``path`` at once.

    The temporary file is in the same folder (so the final rename never crosses file
    systems) and is removed when ``write`` fails. An existing target keeps its
    permission bits; a symbolic link keeps pointing at the (new) file. Returns the path
    written (the link's target for a link).

    Raises :class:`ChainruleError` for a path that cannot be written (see
    :func:`output_path`) or a write that fails (a full disk, for instance).
    """
    target = output_path(path, what)
    _remove_stale_temporaries(target)
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
    temporary = os.fspath(target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # created as open() creates files (0o666 less the umask), then given the old file's mode
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        write(temporary)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as exc:
        raise ChainruleError(f"cannot write {what} {os.fspath(path)!r}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


#: A temporary untouched for this many seconds, whose writer's process id is not running here,
#: was left by a killed writer (a live writer touches its file as it writes; one in another
#: process namespace, whose id means nothing here, is spared by the wait).
STALE_AFTER = 60.0


def _remove_stale_temporaries(target: Path) -> None:
    """Remove what an earlier write to ``target`` left behind when its process was killed: its
    temporary files, named exactly as :func:`write_atomically` names them (so never another
    target's, nor a user's file), when the writer is gone and the file is old."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp")
    now = time.time()
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        match = pattern.fullmatch(leftover.name)
        if match is None or int(match.group(1)) == os.getpid() or _running(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if now - leftover.lstat().st_mtime > STALE_AFTER and leftover.is_file():
                leftover.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but belongs to someone else
        return True
    return True


def write_text_atomically(path: str | os.PathLike, text: str, what: str = "output file") -> Path:
    """:func:`write_atomically` for a text (UTF-8)."""
    return write_atomically(path, lambda p: Path(p).write_text(text, encoding="utf-8"), what)


def write_bytes_atomically(path: str | os.PathLike, data: bytes, what: str = "output file") -> Path:
    """:func:`write_atomically` for bytes."""
    return write_atomically(path, lambda p: Path(p).write_bytes(data), what)
