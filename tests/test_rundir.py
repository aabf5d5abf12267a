"""Run directories: what counts as a run, what may become one, the marker, the lock, an unreadable ledger."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lamdagent import rundir
from lamdagent.errors import LamdagentError

REPO = Path(__file__).resolve().parents[1]


def error_of(fn, *args, **kwargs) -> str:  # noqa: ANN001 - any checker
    with pytest.raises(LamdagentError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else b"" for p in sorted(path.rglob("*"))}


def test_check_new_accepts_a_new_or_empty_dir_and_writes_nothing(tmp_path: Path) -> None:
    assert rundir.check_new(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    (tmp_path / "empty").mkdir()
    rundir.check_new(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


def test_check_new_refuses_a_file_a_foreign_dir_and_a_run(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("notes")
    assert "is a file" in error_of(rundir.check_new, tmp_path / "f")
    assert "is a file" in error_of(rundir.check_new, tmp_path / "f" / "sub")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work")
    assert "holds files that are not a lamdagent run; pick an empty or new --run-dir" in error_of(
        rundir.check_new, theirs
    )
    assert snapshot(theirs) == {"thesis.tex": b"years of work"}
    old = tmp_path / "old"  # a run from before the marker: its ledger alone makes it a run
    old.mkdir()
    sqlite3.connect(old / "ledger.sqlite").close()
    assert "already holds a run; continue it with --resume" in error_of(rundir.check_new, old)


def test_claim_writes_marker_and_lock_then_the_dir_is_a_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with rundir.claim(run) as held:
        assert held.held
        assert sorted(p.name for p in run.iterdir()) == [rundir.LOCK, rundir.MARKER]
        marker = json.loads((run / rundir.MARKER).read_text())
        assert marker["format"] == rundir.FORMAT_VERSION and marker["created_at"]
        assert rundir.is_run(run) and rundir.in_use_by(run) is not None
        assert "already holds a run" in error_of(rundir.check_new, run)
    assert not held.held and rundir.in_use_by(run) is None
    assert rundir.open_existing(run) == run
    with rundir.claim(run, resume=True):
        assert json.loads((run / rundir.MARKER).read_text()) == marker  # resuming keeps the first marker


def test_prepare_new_checks_then_claims(tmp_path: Path) -> None:
    with rundir.prepare_new(tmp_path / "r"):
        assert rundir.is_run(tmp_path / "r")
    assert "already holds a run" in error_of(rundir.prepare_new, tmp_path / "r")


def test_a_second_process_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    run = tmp_path / "run"
    held = rundir.claim(run)
    try:
        code = textwrap.dedent(
            f"""
            from lamdagent import rundir
            from lamdagent.errors import LamdagentError
            for resume in (True, False):
                try:
                    rundir.claim({str(run)!r}, resume=resume)
                except LamdagentError as exc:
                    print(exc)
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
        lines = out.stdout.strip().splitlines()
        assert lines[0] == (
            f"{run} is in use by another lamdagent process (pid {os.getpid()}); wait for it or use another --run-dir"
        )
        assert "already holds a run" in lines[1]
        assert "is in use by another lamdagent process" in error_of(rundir.check_resume, run)
    finally:
        held.release()
    rundir.check_resume(run)


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code = f"from lamdagent import rundir; import os, signal; rundir.claim({str(run)!r}); os.kill(os.getpid(), 9)"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60)
    assert rundir.is_run(run) and rundir.in_use_by(run) is None
    with rundir.claim(run, resume=True):
        pass


def test_open_existing_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    missing = error_of(rundir.open_existing, tmp_path / "nope")
    assert "holds no run" in missing and f"lamdagent run --run-dir {tmp_path / 'nope'}" in missing
    assert not (tmp_path / "nope").exists()
    (tmp_path / "plain").mkdir()
    assert "holds no run (no ledger.sqlite there)" in error_of(rundir.open_existing, tmp_path / "plain")
    (tmp_path / "file").write_text("x")
    assert "is a file, not a run directory" in error_of(rundir.open_existing, tmp_path / "file")
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / rundir.MARKER).write_text(json.dumps({"format": rundir.FORMAT_VERSION + 1}))
    assert "written by a newer lamdagent" in error_of(rundir.open_existing, newer)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"this is not a database, just text " * 50, "is not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "cannot be read by SQLite"),
    ],
)
def test_a_corrupt_ledger_is_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "ledger.sqlite").write_bytes(content)
    before = snapshot(run)
    message = error_of(rundir.open_existing, run)
    assert expected in message and "restore" in message and str(run / "ledger.sqlite") in message
    assert snapshot(run) == before  # checking never writes, not even SQLite's side files


def test_an_sqlite_file_that_is_not_a_ledger(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with sqlite3.connect(run / "ledger.sqlite") as db:
        db.execute("CREATE TABLE notes (t TEXT)")
    assert "not a lamdagent ledger (no meta, trials table)" in error_of(rundir.open_existing, run)


def test_a_real_ledger_passes_while_it_is_open_for_writing(tmp_path: Path) -> None:
    from lamdagent.ledger import Ledger

    with Ledger(tmp_path / "run") as ledger:
        ledger.set_meta("config", {"x": 1})
        assert rundir.open_existing(tmp_path / "run") == tmp_path / "run"
    assert rundir.open_existing(tmp_path / "run") == tmp_path / "run"
