"""Atomic writes of files and folders: the one implementation every output of the project
goes through (models, ONNX exports, scored rows, evaluation reports).

What a reader of ``path`` can see, whatever happens to the writer (exception, kill -9,
power loss after the rename):

* the old content or the complete new content, never a half-written one: the new content
  is written beside ``path`` under a hidden name and renamed into place;
* for a file, ``path`` is never absent (``os.replace`` swaps it in one step);
* for a folder, ``path`` is never absent where the platform can exchange two names in one
  step (Linux ``renameat2(RENAME_EXCHANGE)``, local filesystems); elsewhere the old folder
  is renamed aside and the new one renamed in, a window of two ``rename`` calls;
* no leftovers for long: the hidden names carry the writer's process id, and the next
  write beside ``path`` removes those whose process is gone (after a kill -9).

New files get the permissions a plain ``open`` would give (``0o666`` less the umask), not
the ``0o600`` of :mod:`tempfile`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_MARK = "stance-partial"  # in every hidden name, so a sweep never touches anything else
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _hidden(path: Path, role: str) -> Path:
    return path.with_name(f".{path.name}.{_MARK}-{os.getpid()}-{secrets.token_hex(4)}.{role}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove what writers of ``path`` that died (kill -9) left beside it; returns what was removed."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.{_MARK}-(\d+)-[0-9a-f]+\.\w+$")
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(entry)
    return removed


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8") -> Iterator[IO]:
    """``with atomic_file(path) as handle: handle.write(...)``: ``path`` holds all of it or is untouched."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(path)
    staged = _hidden(path, "tmp")
    binary = "b" in mode
    try:
        with open(staged, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(staged, _default_mode())
        os.replace(staged, path)
    except BaseException:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise


def write_file(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w") as handle:
        handle.write(data)
    return Path(path)


def copy_file(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy ``source`` to ``path`` atomically."""
    with atomic_file(path, "wb") as handle, open(source, "rb") as original:
        shutil.copyfileobj(original, handle)
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """``with atomic_directory(out) as staging: write files into staging``; on success the
    staging folder becomes ``out`` (an existing ``out`` is replaced whole, never merged)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(path)
    staging = _hidden(path, "new")
    staging.mkdir(mode=0o777)  # the umask applies, as for any new folder
    try:
        yield staging
        _plain_file_modes(staging)
        replace_directory(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _plain_file_modes(folder: Path) -> None:
    """Files written by libraries that create them ``0o600`` (safetensors does) get the mode of a plain ``open``."""
    mode = _default_mode()
    for file in folder.rglob("*"):
        if file.is_file() and not file.is_symlink():
            os.chmod(file, mode)


@contextlib.contextmanager
def scratch_directory(path: str | os.PathLike) -> Iterator[Path]:
    """A hidden work folder beside ``path`` for the steps before an atomic write (removed on
    exit, and by the next write's sweep if the writer is killed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(path)
    work = _hidden(path, "work")
    work.mkdir(mode=0o700)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def replace_directory(staging: Path, path: Path) -> None:
    """Put the folder ``staging`` at ``path`` and delete what was there."""
    if path.is_dir() and not path.is_symlink() and _exchange(staging, path):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old folder
        return
    old = None
    if path.exists() or path.is_symlink():
        old = _hidden(path, "old")
        os.replace(path, old)
    os.replace(staging, path)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


def _exchange(first: Path, second: Path) -> bool:
    """Swap two names in one step (Linux ``renameat2``); False where that is not available."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(second))


def _renameat2():
    if not hasattr(_renameat2, "function"):
        function = None
        with contextlib.suppress(OSError, AttributeError):  # the C library this process runs on (glibc >= 2.28)
            function = ctypes.CDLL(None, use_errno=True).renameat2
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            function.restype = ctypes.c_int
        _renameat2.function = function
    return _renameat2.function
