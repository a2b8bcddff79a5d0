"""Checks on the command line's output paths, made before any work, so a run never ends by
destroying what the user had there (their data, another folder) or in a traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

SHOWN_ENTRIES = 5


class OutputError(ValueError):
    """An output path that the command will not write; the message says why and what to do."""


def is_model_folder(path: Path) -> bool:
    """A folder ``stance train`` wrote: ``config.json`` with a ``format_version`` (or the first format's ``stance`` section)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        return "format_version" in config or "stance" in config
    except (OSError, ValueError, TypeError):
        return False


def check_model_output(output: str | os.PathLike, *, inputs: Sequence[str | os.PathLike] = (), overwrite: bool = False) -> Path:
    """``stance train --output``: absent, empty, or a stance model folder (replaced whole);
    anything else only with ``overwrite``; never a folder that holds one of the ``inputs``."""
    path = Path(output)
    _check_parent(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"--output {path} is a file, not a model folder: choose a folder path")
    if not path.exists():
        return path
    inside = [str(p) for p in inputs if _within(Path(p), path)]
    if inside:
        raise OutputError(f"--output {path} holds the input {', '.join(inside)}; replacing it would delete the data: choose another folder")
    entries = sorted(entry.name for entry in path.iterdir())
    if entries and not is_model_folder(path) and not overwrite:
        shown = ", ".join(entries[:SHOWN_ENTRIES]) + (f" and {len(entries) - SHOWN_ENTRIES} more" if len(entries) > SHOWN_ENTRIES else "")
        raise OutputError(
            f"--output {path} exists and is not a stance model folder (it holds {shown}); training replaces the whole folder: "
            "choose a new or empty folder, or pass --overwrite to replace it"
        )
    return path


def check_file_output(output: str | os.PathLike, *, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """A file the command writes (atomically): not a folder, not one of its ``inputs``."""
    path = Path(output)
    _check_parent(path)
    if path.is_dir():
        raise OutputError(f"--output {path} is a folder: give a file path such as {path / 'scored.jsonl'}")
    for source in inputs:
        if _same_file(Path(source), path):
            raise OutputError(f"--output {path} is the input file {source}: write the results to another file")
    return path


def _check_parent(path: Path) -> None:
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"cannot write {path}: {parent} is a file, not a folder")
            return


def _within(inner: Path, folder: Path) -> bool:
    try:
        return inner.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve() or (first.exists() and second.exists() and os.path.samefile(first, second))
    except OSError:
        return False
