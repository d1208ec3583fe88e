"""`signalflow_gym.outputs`: result folders are swapped in whole, interrupted swaps are undone, reruns refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from signalflow_gym.outputs import (
    MARKER,
    OutputError,
    building,
    check_target,
    mark_complete,
    recover,
    relocate,
    verify_complete,
    write_text_atomic,
)


def _dead_pid() -> int:
    """The pid of a process that has exited (so its temporaries count as stale)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def _result(path, text: str, kind: str = "evaluation"):
    path.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path / "report.md", text)
    mark_complete(path, kind=kind)
    return path


def test_building_swaps_a_complete_result_in_and_leaves_no_temporary(tmp_path):
    final = tmp_path / "out"
    with building(final, kind="evaluation") as tmp:
        assert tmp.parent == final.parent and tmp.name.startswith(".out.new-")
        (tmp / "report.md").write_text("new")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "bars.txt").write_text("bars")
    marker = verify_complete(final, kind="evaluation")
    assert sorted(marker["files"]) == ["report.md", "sub/bars.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_building_refuses_an_existing_result_without_overwrite_and_replaces_it_with(tmp_path):
    final = _result(tmp_path / "out", "old")
    with pytest.raises(OutputError, match=r"already holds a complete evaluation report .*; pass --overwrite to replace "
                                          r"it, or choose another --out"):
        with building(final, kind="evaluation"):
            pass
    with building(final, kind="evaluation", overwrite=True) as tmp:
        (tmp / "report.md").write_text("new")
    assert (final / "report.md").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_result_another_process_wrote_meanwhile_is_not_replaced_and_ours_is_kept(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(OutputError, match=r"out changed while this run was writing its result and may no longer be "
                                          r"replaced \(.*already holds a complete evaluation report.*\); nothing was "
                                          r"replaced: this run's complete result was kept in .*out\.kept-"):
        with building(final, kind="evaluation") as ours:  # `out` was absent when this run started
            (ours / "report.md").write_text("ours")
            _result(final, "theirs")  # a second writer commits first
    assert (final / "report.md").read_text() == "theirs"
    verify_complete(final, kind="evaluation")
    kept = [p for p in tmp_path.iterdir() if p.name != "out"]
    assert len(kept) == 1 and kept[0].name.startswith("out.kept-")
    assert (kept[0] / "report.md").read_text() == "ours"
    verify_complete(kept[0], kind="evaluation")
    recover(final)  # the kept result is not a temporary: nothing cleans it away
    assert kept[0].is_dir()


def test_a_failed_build_leaves_the_previous_result_untouched(tmp_path):
    final = _result(tmp_path / "out", "old")
    with pytest.raises(RuntimeError, match="boom"):
        with building(final, kind="evaluation", overwrite=True) as tmp:
            (tmp / "report.md").write_text("half")
            raise RuntimeError("boom")
    verify_complete(final)
    assert (final / "report.md").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_recover_puts_back_a_result_renamed_aside_by_a_killed_swap(tmp_path):
    pid = _dead_pid()
    old = _result(tmp_path / f".out.old-{pid}-ab12", "old")
    new = _result(tmp_path / f".out.new-{pid}-ab12", "new")
    done = recover(tmp_path / "out")
    assert len(done) == 2 and "restored" in done[0]
    assert (tmp_path / "out" / "report.md").read_text() == "old"
    assert not old.exists() and not new.exists()
    verify_complete(tmp_path / "out")


def test_recover_removes_stale_temporaries_but_not_a_live_writers(tmp_path):
    final = _result(tmp_path / "out", "current")
    stale = tmp_path / f".out.new-{_dead_pid()}-00ff"
    stale.mkdir()
    (stale / "part.bin").write_bytes(b"x")
    live = tmp_path / f".out.new-{os.getpid()}-00aa"
    live.mkdir()
    stale_file = final / f".report.md.tmp-{_dead_pid()}-0a0b"
    stale_file.write_text("half")
    recover(final)
    assert not stale.exists() and not stale_file.exists()
    assert live.is_dir()
    assert (final / "report.md").read_text() == "current"


def test_check_target_refuses_files_another_kind_and_foreign_folders(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match=r"afile is a file \(or a link\), not a folder; choose another --out"):
        check_target(tmp_path / "afile", kind="evaluation", overwrite=True)
    other = _result(tmp_path / "run", "x", kind="train")
    with pytest.raises(OutputError, match="holds a training run, not an evaluation report; choose another --out"):
        check_target(other, kind="evaluation", overwrite=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(OutputError, match=r"is not empty and is not an evaluation report written by signalflow-gym "
                                          r"\(no COMPLETE\.json; it holds notes\.txt\)"):
        check_target(mine, kind="evaluation", overwrite=True, known=("report.md",))
    extra = _result(tmp_path / "extra", "x")
    (extra / "notes.txt").write_text("precious")
    with pytest.raises(OutputError, match=r"refusing to replace .*extra: it also holds files that are not part of the "
                                          r"evaluation report \(notes\.txt\)"):
        check_target(extra, kind="evaluation", overwrite=True)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "report.md").write_text("from an older version")
    with pytest.raises(OutputError, match=r"holds an incomplete evaluation report \(no COMPLETE\.json"):
        check_target(legacy, kind="evaluation", overwrite=False, known=("report.md",))
    assert check_target(legacy, kind="evaluation", overwrite=True, known=("report.md",)) == "legacy"


def test_verify_complete_names_a_changed_missing_or_unlisted_file(tmp_path):
    final = _result(tmp_path / "out", "x")
    (final / "report.md").write_text("changed")
    with pytest.raises(OutputError, match=r"report\.md does not match its sha256 in COMPLETE\.json"):
        verify_complete(final)
    final = _result(tmp_path / "out2", "x")
    (final / "stray.parquet").write_text("x")
    with pytest.raises(OutputError, match=r"holds files that are not listed in COMPLETE\.json: stray\.parquet"):
        verify_complete(final)
    (final / "stray.parquet").unlink()
    (final / "report.md").unlink()
    with pytest.raises(OutputError, match=r"report\.md is listed in COMPLETE\.json but missing"):
        verify_complete(final)
    assert json.loads((final / MARKER).read_text())["kind"] == "evaluation"


def test_open_dirs_are_not_part_of_the_result(tmp_path):
    final = tmp_path / "run"
    with building(final, kind="train", open_dirs=("checkpoints",)) as tmp:
        (tmp / "model.zip").write_text("m")
        (tmp / "checkpoints").mkdir()
        (tmp / "checkpoints" / "model_1_steps.zip").write_text("c")
    (final / "checkpoints" / "model_2_steps.zip").write_text("c2")  # a resumed run adds checkpoints
    assert sorted(verify_complete(final)["files"]) == ["model.zip"]


def test_relocate_moves_recorded_paths_to_the_final_folder(tmp_path):
    work, final = tmp_path / ".out.new-1-ab", tmp_path / "out"
    record = {"run_dir": str(work / "run"), "files": [str(work / "a.md"), str(tmp_path / "other")], "n": 3,
              "name": str(work) + "x"}
    assert relocate(record, work, final) == {"run_dir": str(final / "run"),
                                             "files": [str(final / "a.md"), str(tmp_path / "other")], "n": 3,
                                             "name": str(work) + "x"}
    error = f"FileNotFoundError: [Errno 2] No such file or directory: '{work / 'validation' / 'bars.parquet'}'"
    assert relocate({"error": error}, work, final) == {"error": error.replace(str(work), str(final))}
    assert relocate(f"see {work}: done", work, final) == f"see {final}: done"
    assert relocate(f"failed writing {work}.", work, final) == f"failed writing {final}."  # ends a sentence
    assert relocate(f"/mnt{work}/x", work, final) == f"/mnt{work}/x"  # another path that merely contains it
