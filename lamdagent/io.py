"""Small file and process infrastructure that every layer shares: atomic writes, JSON Lines, live processes.

Run directories are read by other processes (the report, `status`, workers, a resumed loop) while they are
written, and any writer may be killed at any moment; so every file that others read is written whole or not
at all, and a process only counts as alive while it can still write.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lamdagent.errors import LamdagentError

_PROC = Path("/proc")
_GONE_STATES = ("Z", "X")  # zombie (exited, not yet waited for) and dead: neither will ever write again


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries, so a rename inside it survives a power cut (POSIX only; a no-op elsewhere)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows, where directories cannot be opened; the rename is still atomic
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on directories
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Replace `path` with `data` (str is written as UTF-8) so that readers see the old file or the new one,
    never a part: the bytes go to a temporary file beside it (same filesystem), are flushed to disk, and the
    file is renamed over the target. A writer killed half-way leaves at most a `.NAME.*.tmp` file behind."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 honours the umask like open() does (tempfile.mkstemp would force 0600)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            # a failed write or flush (a full disk) names no file; the one-line error must say which
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    fsync_dir(path.parent)


def write_json_atomic(path: str | Path, value: Any, indent: int | None = 1) -> None:
    """`value` as JSON, written atomically (see `write_atomic`); objects JSON lacks are written as strings."""
    write_atomic(path, json.dumps(value, indent=indent, default=str))


def jsonl_bytes(rows: Iterable[Any]) -> bytes:
    """Rows in canonical JSON Lines form (sorted keys, raw UTF-8): equal rows always give equal bytes, which
    is what makes a dataset's fingerprint (its sha256) a cache key."""
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows).encode("utf-8")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> bytes:
    """Write rows as canonical JSON Lines, atomically; returns the bytes written (to fingerprint them)."""
    data = jsonl_bytes(rows)
    write_atomic(path, data)
    return data


def parse_jsonl(lines: Iterable[str], where: Callable[[int], str]) -> Iterator[tuple[int, Any]]:
    """(1-based line number, value) for every non-blank line; a line that is not JSON raises an error that
    starts with `where(line number)`, so the message points at the line to fix in an editor."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LamdagentError(
                f"{where(number)}: not valid JSON ({exc.msg} at column {exc.colno}); each line must hold one "
                "JSON object"
            ) from None
        yield number, value


def read_jsonl_numbered(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Objects of a JSON Lines file with their 1-based line numbers (BFCL's `.json` files are JSON Lines too).
    Errors name `FILE:LINE`; a missing file says to check the path."""
    rows = []
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for number, row in parse_jsonl(fh, lambda n: f"{path}:{n}"):
                if not isinstance(row, dict):
                    raise LamdagentError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
                rows.append((number, row))
    except FileNotFoundError:
        raise LamdagentError(f"{path} not found; check the path (benchmarks: the data_dir option)") from None
    return rows


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file, in order (see `read_jsonl_numbered` for the errors)."""
    return [row for _, row in read_jsonl_numbered(path)]


def pid_alive(pid: int | None) -> bool:
    """Whether process `pid` is still running. A zombie counts as gone: it has exited and only waits for its
    parent to collect it, so its trial or staging directory will never be finished. Reads the state from
    `/proc` where there is one; elsewhere (or where `/proc` hides other users' processes) asks `kill -0`."""
    if not pid or pid <= 0:  # 0 and negatives name process groups, never one process
        return False
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
        state = stat.rsplit(")", 1)[1].split()[0]  # after "(command name)", which may itself hold ") "
    except (OSError, IndexError):
        pass
    else:
        return state not in _GONE_STATES
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True
