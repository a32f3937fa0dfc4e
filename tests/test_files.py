"""chainrule.files: paths checked with one clear error, writes that are all or nothing."""

from __future__ import annotations

import os
import stat
import time

import pytest

from chainrule.errors import ChainruleError
from chainrule.files import STALE_AFTER, input_file, output_path, write_atomically, write_text_atomically


def test_output_paths_that_cannot_be_written_are_refused(tmp_path):
    with pytest.raises(ChainruleError, match="is a folder"):
        output_path(tmp_path, "history file")
    with pytest.raises(ChainruleError, match="does not exist"):
        output_path(tmp_path / "missing" / "h.json", "history file")
    with pytest.raises(ChainruleError, match="not a regular file"):
        output_path("/dev/null")
    assert output_path(tmp_path / "new.json") == tmp_path / "new.json"


def test_input_files_must_be_regular_files(tmp_path):
    with pytest.raises(ChainruleError, match="does not exist"):
        input_file(tmp_path / "missing.csv", "data file")
    with pytest.raises(ChainruleError, match="is a folder"):
        input_file(tmp_path)
    with pytest.raises(ChainruleError, match="not a regular file"):
        input_file("/dev/zero", "data file")
    (tmp_path / "d.csv").write_text("x\n1\n")
    assert input_file(tmp_path / "d.csv") == tmp_path / "d.csv"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")

    def fails(path):
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(ChainruleError, match="No space left"):
        write_atomically(target, fails)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.bin"]


def test_a_write_keeps_permissions_and_writes_through_a_link(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_text_atomically(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    fresh = write_text_atomically(tmp_path / "fresh.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_temporaries_left_by_a_killed_writer_are_cleared(tmp_path):
    target = tmp_path / "model.bin"
    old = time.time() - 2 * STALE_AFTER

    def leftover(name: str, age: float = old):
        path = tmp_path / name
        path.write_bytes(b"half")
        os.utime(path, (age, age))
        return path

    dead = leftover(".model.bin.999999999.abcd1234.tmp")  # no such process, untouched for long
    fresh = leftover(".model.bin.999999998.abcd1234.tmp", time.time())  # perhaps a writer we cannot see
    mine = leftover(f".model.bin.{os.getpid()}.abcd1234.tmp")  # this process: perhaps writing now
    other_target = leftover(".model.bin.4000000.999999997.abcd1234.tmp")  # a write to "model.bin.4000000"
    users = leftover(".model.bin.999999996.tmp")  # not named as chainrule names its temporaries
    write_text_atomically(target, "new")
    assert target.read_text() == "new" and not dead.exists()
    assert fresh.exists() and mine.exists() and other_target.exists() and users.exists()


@pytest.mark.parametrize("name", ["out\0.csv", b"out\0.csv"])
def test_a_nul_in_a_file_name_is_a_clear_error(tmp_path, name):
    with pytest.raises(ChainruleError, match="NUL"):
        output_path(name, "--save")
    with pytest.raises(ChainruleError, match="--data: the file name .* contains a NUL character"):
        input_file(name, "--data")
