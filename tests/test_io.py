"""The shared infrastructure: atomic writes readers never see half of, JSON Lines with errors that name the
line, and a process check that does not mistake a zombie for a live writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lamdagent import io
from lamdagent.errors import LamdagentError
from lamdagent.io import (
    jsonl_bytes,
    pid_alive,
    read_jsonl,
    read_jsonl_numbered,
    write_atomic,
    write_json_atomic,
    write_jsonl,
)

HAS_PROC = Path("/proc/self/stat").exists()


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    write_atomic(target, b"old")
    write_atomic(target, "néw")  # str is written as UTF-8
    assert target.read_bytes() == "néw".encode()
    assert os.listdir(tmp_path) == ["f.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # like open(): not mkstemp's 0600


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    write_json_atomic(target, {"v": 1})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_json_atomic(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["f.json"]  # the temporary file is gone too


def test_a_reader_never_sees_a_half_written_file(tmp_path: Path) -> None:
    target = tmp_path / "big.txt"
    versions = [b"a" * 3_000_000, b"b" * 1_000_000]  # different sizes: a torn read shows as a wrong length
    write_atomic(target, versions[0])
    stop = threading.Event()

    def writer() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            write_atomic(target, versions[k % 2])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = set()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline or len(seen) < 2:
            data = target.read_bytes()
            assert data in versions, f"read {len(data)} bytes: a partial file"
            seen.add(data[:1])
            assert time.monotonic() < deadline + 10, "the writer never finished a write"
    finally:
        stop.set()
        thread.join()
    assert seen == {b"a", b"b"}


def test_write_json_atomic_writes_what_json_lacks_as_text(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "j.json", {"path": tmp_path, "n": 1})
    assert json.loads((tmp_path / "j.json").read_text()) == {"path": str(tmp_path), "n": 1}


def test_jsonl_is_canonical_and_round_trips(tmp_path: Path) -> None:
    rows = [{"b": 1, "a": "ü"}, {"z": [1, 2]}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    assert data == (tmp_path / "d.jsonl").read_bytes() == jsonl_bytes([{"a": "ü", "b": 1}, {"z": [1, 2]}])
    assert data.decode().splitlines()[0] == '{"a": "ü", "b": 1}'  # sorted keys, raw UTF-8
    assert read_jsonl(tmp_path / "d.jsonl") == rows


def test_read_jsonl_numbers_lines_and_names_the_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('\ufeff{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")  # a BOM and a blank line
    assert read_jsonl_numbered(path) == [(1, {"a": 1}), (3, {"a": 2})]
    path.write_text('{"a": 1}\n\n{"a": \n', encoding="utf-8")
    with pytest.raises(LamdagentError, match=r"d\.jsonl:3: not valid JSON \(.*\); each line must hold one JSON"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(LamdagentError, match=r"d\.jsonl:2: expected a JSON object, got list"):
        read_jsonl(path)
    with pytest.raises(LamdagentError, match=r"missing\.jsonl not found"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_pid_alive_for_live_dead_and_meaningless_pids() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(None) and not pid_alive(0) and not pid_alive(-1)  # never a process group
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)  # reaped: gone


@pytest.mark.skipif(not HAS_PROC, reason="zombies are told apart through /proc")
def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 30
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":  # exited, not yet waited for
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.01)
        os.kill(child.pid, 0)  # kill -0 still finds it: only the state says it is dead
        assert not pid_alive(child.pid)
    finally:
        child.wait()


def test_without_proc_kill_zero_decides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(io, "_PROC", tmp_path / "no-proc")
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
