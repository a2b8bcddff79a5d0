"""The one atomic write: whole or untouched, never absent, no leftovers after kill -9, plain permissions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import stance.models.atomic as atomic
import torch
from safetensors.torch import save_file
from stance.models.atomic import atomic_directory, atomic_file, sweep_leftovers, write_file


def hidden_entries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_failed_write_leaves_the_old_file_and_nothing_else(tmp_path):
    target = tmp_path / "scored.jsonl"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert hidden_entries(tmp_path) == []


def test_new_files_get_the_umask_permissions_not_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        written = write_file(tmp_path / "out.json", "{}\n")
        with atomic_directory(tmp_path / "model") as staging:
            (staging / "config.json").write_text("{}", encoding="utf-8")
            save_file({"weight": torch.zeros(2)}, str(staging / "model.safetensors"))  # safetensors creates 0600
    finally:
        os.umask(previous)
    assert written.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "model" / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_a_folder_is_replaced_whole(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_text("x", encoding="utf-8")
    with atomic_directory(target) as staging:
        (staging / "config.json").write_text("{}", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    assert hidden_entries(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the one-step exchange is Linux's renameat2")
def test_a_folder_swap_is_one_step_so_the_folder_is_never_absent(tmp_path, monkeypatch):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")

    def no_two_step_rename(*args):
        raise AssertionError("the folder was renamed away: it is absent until the second rename")

    monkeypatch.setattr(atomic.os, "replace", no_two_step_rename)
    with atomic_directory(target) as staging:
        (staging / "new.txt").write_text("new", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]


WRITER = textwrap.dedent(
    """
    import sys, time
    from stance.models.atomic import atomic_directory, atomic_file
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "dir":
        with atomic_directory(path) as staging:
            (staging / "config.json").write_text("{}")
            print("writing", flush=True)
            time.sleep(60)
    else:
        with atomic_file(path) as handle:
            handle.write("partial")
            handle.flush()
            print("writing", flush=True)
            time.sleep(60)
    """
)


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(tmp_path, kind):
    target = tmp_path / ("model" if kind == "dir" else "scored.jsonl")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, kind, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert len(hidden_entries(tmp_path)) == 1, "the killed writer left its partial output"
    assert not target.exists()
    if kind == "dir":
        with atomic_directory(target) as staging:
            (staging / "config.json").write_text("{}", encoding="utf-8")
    else:
        write_file(target, "done\n")
    assert hidden_entries(tmp_path) == []


def test_a_sweep_spares_live_writers_and_other_files(tmp_path):
    live = tmp_path / f".model.stance-partial-{os.getpid()}-abcd1234.new"
    live.mkdir()
    unrelated = tmp_path / ".model.backup"
    unrelated.mkdir()
    assert sweep_leftovers(tmp_path / "model") == []
    assert live.exists() and unrelated.exists()
