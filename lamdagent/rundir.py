"""What a run directory is, and who may write in it.

A directory is a run when it holds the marker file `.lamdagent-run` (or, for runs made before the marker
existed, a `ledger.sqlite`). lamdagent only ever writes into a new or empty directory, or one that is a run,
and only while it holds the run's lock, so a typo in `--run-dir` can never clobber a user's files and two
processes never drive one run at once.

Callers check first and write later: `check_new` / `check_resume` / `open_existing` only look; `claim`
creates the directory, the marker and the lock, and is called once the config has been found valid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.io import fsync_dir, write_json_atomic

MARKER = ".lamdagent-run"
LOCK = ".lamdagent-lock"
LEDGER = "ledger.sqlite"  # Ledger.FILENAME; not imported, so this module stays free of the ledger's imports
FORMAT_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"
_LEDGER_TABLES = {"meta", "trials"}


def _path(path: str | Path) -> Path:
    return Path(path).expanduser()


def is_run(path: str | Path) -> bool:
    """Whether `path` is a run directory: it holds the marker, or the ledger of a run made before the marker."""
    p = _path(path)
    return (p / MARKER).is_file() or (p / LEDGER).is_file()


def read_marker(path: str | Path) -> dict[str, Any] | None:
    """The marker's contents (format version, created_at), or None when there is no readable marker."""
    try:
        value = json.loads((_path(path) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def in_use_by(path: str | Path) -> int | None:
    """The pid of the lamdagent process holding the run's lock, or None when no one holds it.

    Looks without writing: it opens an existing lock file read-only and tries a shared lock, which fails
    exactly while another process holds the exclusive one. Returns 0 when the holder's pid is unknown.
    """
    lock = _path(path) / LOCK
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return _lock_pid(fd)
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _lock_pid(fd: int) -> int:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def _in_use_error(p: Path, pid: int) -> LamdagentError:
    who = f"pid {pid}" if pid else "pid unknown"
    return LamdagentError(f"{p} is in use by another lamdagent process ({who}); wait for it or use another --run-dir")


def check_new(path: str | Path) -> Path:
    """Refuse a `--run-dir` that cannot hold a new run: a file, a directory with other files, or a run.

    Writes nothing, so a config found invalid afterwards leaves the disk as it was.
    """
    p = _path(path)
    if p.exists() and not p.is_dir():
        raise LamdagentError(f"--run-dir {p} is a file, not a directory; pick an empty or new --run-dir")
    if p.is_dir():
        if is_run(p):
            raise LamdagentError(
                f"--run-dir {p} already holds a run; continue it with --resume or pick a new --run-dir"
            )
        try:
            entries = next(os.scandir(p), None)
        except PermissionError:
            raise LamdagentError(f"--run-dir {p} cannot be read; pick a directory you may write to") from None
        if entries is not None:
            raise LamdagentError(
                f"--run-dir {p} holds files that are not a lamdagent run; pick an empty or new --run-dir"
            )
    else:
        parent = next((a for a in p.absolute().parents if a.exists()), None)
        if parent is not None and not parent.is_dir():
            raise LamdagentError(f"--run-dir {p}: {parent} is a file, not a directory; pick another --run-dir")
    return p


def check_resume(path: str | Path) -> Path:
    """Refuse a `--resume` of a directory that holds no run, a corrupt ledger, or a run another process drives."""
    p = open_existing(path, command="resume")
    pid = in_use_by(p)
    if pid is not None:
        raise _in_use_error(p, pid)
    return p


def open_existing(path: str | Path, command: str = "") -> Path:
    """Refuse a path that holds no run (for `--resume`, `status`, `report`, `export`, `replay`); writes nothing."""
    p = _path(path)
    if p.exists() and not p.is_dir():
        raise LamdagentError(f"{p} is a file, not a run directory; pass the --run-dir of a `lamdagent run`")
    if not is_run(p):
        what = "no such directory" if not p.exists() else f"no {LEDGER} there"
        to = f" to {command}" if command else ""
        raise LamdagentError(
            f"{p} holds no run{to} ({what}); pass the --run-dir of a `lamdagent run`, or start one with "
            f"`lamdagent run --run-dir {p}`"
        )
    marker = read_marker(p)
    version = marker.get("format") if marker is not None else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise LamdagentError(
            f"{p} was written by a newer lamdagent (run format {version}); upgrade lamdagent to read it"
        )
    check_ledger(p)
    return p


def check_ledger(path: str | Path) -> None:
    """Refuse a ledger that SQLite cannot read or that lacks lamdagent's tables; a missing ledger is fine (a run
    claimed but killed before it wrote one). Reads only: the file is opened read-only."""
    ledger = _path(path) / LEDGER
    if not ledger.exists():
        return
    fix = f"restore {ledger} from a copy, or start a new run with `lamdagent run --run-dir NEW`"
    if not ledger.is_file():
        raise LamdagentError(f"{ledger} is not a file; {fix}")
    try:
        with open(ledger, "rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise LamdagentError(f"{ledger} cannot be read ({exc.strerror}); check its permissions") from None
    if not head:
        raise LamdagentError(f"{ledger} is empty, so the run's trials are lost; {fix}")
    if head != _SQLITE_HEADER:
        raise LamdagentError(f"{ledger} is not an SQLite database (corrupt or overwritten); {fix}")
    try:
        conn = sqlite3.connect(f"file:{ledger.absolute()}?mode=ro", uri=True, timeout=10)
        try:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise LamdagentError(f"{ledger} cannot be read by SQLite ({exc}); {fix}") from None
    if not names >= _LEDGER_TABLES:
        missing = ", ".join(sorted(_LEDGER_TABLES - names))
        raise LamdagentError(f"{ledger} is an SQLite file but not a lamdagent ledger (no {missing} table); {fix}")


@dataclass
class RunLock:
    """The exclusive lock on a run directory, held for the life of a run; release it (or use `with`)."""

    path: Path
    fd: int | None = field(default=None, repr=False)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a lock must not outlive every reference to it
        self.release()


def lock(path: str | Path) -> RunLock:
    """Take the run's exclusive lock without waiting; another holder is a one-line error naming its pid.

    The lock is `flock` on `RUN/.lamdagent-lock`: the kernel drops it when the process dies, however it dies,
    so a killed run never leaves a stale lock. The file descriptor is not inherited by workers.
    """
    p = _path(path)
    fd = os.open(p / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        pid = _lock_pid(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise _in_use_error(p, pid) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return RunLock(p, fd)


def claim(path: str | Path, resume: bool = False) -> RunLock:
    """Make `path` this process's run: create it, lock it, and write the marker; call once the config is valid.

    Checks again under the lock (another process may have started a run there since `check_new`). With
    `resume`, the directory must already be a run; a run made before the marker existed gets one.
    """
    p = check_resume(path) if resume else check_new(path)
    created = not p.exists()
    p.mkdir(parents=True, exist_ok=True)
    held = lock(p)
    try:
        if resume:
            open_existing(p, command="resume")
        elif any(e.name != LOCK for e in os.scandir(p)):  # someone wrote here between the check and the lock
            raise LamdagentError(
                f"--run-dir {p} was filled by another process just now; pick an empty or new --run-dir"
            )
        if read_marker(p) is None:
            write_json_atomic(
                p / MARKER,
                {"format": FORMAT_VERSION, "created_at": datetime.now(UTC).isoformat(timespec="seconds")},
            )
        if created:
            fsync_dir(p.parent)
    except BaseException:
        held.release()
        raise
    return held


def prepare_new(path: str | Path) -> RunLock:
    """`check_new` then `claim`: for callers with nothing to validate in between."""
    check_new(path)
    return claim(path)


def has_started(path: str | Path) -> bool:
    """Whether the run in `path` recorded its config (so `--resume` can continue it); reads the ledger read-only
    and says False for anything it cannot read."""
    ledger = _path(path) / LEDGER
    if not ledger.is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{ledger.absolute()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT 1 FROM meta WHERE key = 'config'").fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False
