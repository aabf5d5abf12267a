"""The run ledger: SQLite (WAL) holding trials, events and memory versions; the only state that matters.

Finished, failed or interrupted trial rows are immutable (a trigger refuses updates), so a crash, a kill or a
bad agent answer can never rewrite history. A trial left `running` by a dead process is marked `interrupted`
on reopen: it is kept for the record but does not count against the budget, and its spec may be tried again.

The schema carries a version in `meta`; opening a ledger written by an older lamdagent migrates it in place,
in one transaction, so old runs resume.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.io import pid_alive
from lamdagent.spec import ActionSpec


class TrialState(StrEnum):
    """Where a trial stands; a StrEnum, so a state equals its plain string (`state == "finished"`)."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # the action or its evaluation raised: a real outcome, counted against the budget
    INTERRUPTED = "interrupted"  # its process died (kill, crash, power cut): no outcome, not counted


SCHEMA_VERSION = 2  # 1: no `interrupted` state (and no version in meta); 2: `interrupted`
TRIALS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    iteration INTEGER NOT NULL,
    spec_hash TEXT NOT NULL,
    spec TEXT NOT NULL,
    action TEXT NOT NULL,
    inputs TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'finished', 'failed', 'interrupted')),
    output_model TEXT,
    metrics TEXT,
    test_metrics TEXT,
    score REAL,
    error TEXT,
    rationale TEXT,
    fallback INTEGER NOT NULL DEFAULT 0,
    cached INTEGER NOT NULL DEFAULT 0,
    llm_tokens INTEGER NOT NULL DEFAULT 0,
    timings TEXT,
    pid INTEGER,
    worker TEXT,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    finished_at REAL
);
"""
# Created with `trials` (and again after a migration rebuilds it); one statement each.
TRIALS_EXTRAS = (
    "CREATE INDEX IF NOT EXISTS trials_spec ON trials (spec_hash)",
    "CREATE TRIGGER IF NOT EXISTS trials_immutable BEFORE UPDATE ON trials WHEN OLD.state != 'running'\n"
    "BEGIN SELECT RAISE(ABORT, 'finished trials are immutable'); END",
    "CREATE TRIGGER IF NOT EXISTS trials_no_delete BEFORE DELETE ON trials\n"
    "BEGIN SELECT RAISE(ABORT, 'trials are never deleted'); END",
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    + TRIALS_TABLE.format(name="trials")
    + "".join(f"{statement};\n" for statement in TRIALS_EXTRAS)
    + """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    trial_id INTEGER,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memory (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id INTEGER,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS test_scores (
    model_id TEXT PRIMARY KEY,
    metrics TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""
)


# Trials with the test scores measured at the end of a search, for rows that were not scored on test themselves.
SELECT_TRIALS = (
    "SELECT trials.*, test_scores.metrics AS final_test FROM trials "
    "LEFT JOIN test_scores ON test_scores.model_id = trials.output_model"
)


@dataclass(frozen=True)
class TrialRecord:
    """One row of `trials`, decoded."""

    id: int
    iteration: int
    spec_hash: str
    spec: ActionSpec
    state: TrialState
    output_model: str | None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # validation: task -> metric -> value
    test_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    score: float | None = None
    error: str | None = None
    rationale: str | None = None
    fallback: bool = False
    cached: bool = False
    llm_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    worker: str | None = None
    started_at: float = 0.0
    finished_at: float | None = None

    @property
    def action(self) -> str:
        return self.spec.action

    @property
    def counts_against_budget(self) -> bool:
        """Every trial uses up budget except an interrupted one, which never got to an outcome."""
        return self.state != TrialState.INTERRUPTED


class Ledger:
    """A connection to `RUN/ledger.sqlite`. Each write is its own short transaction."""

    FILENAME = "ledger.sqlite"

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / self.FILENAME
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        try:
            self._conn.executescript(SCHEMA)
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self) -> None:
        """Bring a ledger written by an older lamdagent to `SCHEMA_VERSION`; a no-op on a current one."""
        if self.get_meta("schema_version") == SCHEMA_VERSION:
            return  # the usual case, without taking the write lock
        with self._tx() as c:  # re-read inside the lock: another process may have migrated meanwhile
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = json.loads(row["value"]) if row else self._unversioned_version(c)
            if version > SCHEMA_VERSION:
                raise LamdagentError(
                    f"{self.path} was written by a newer lamdagent (ledger schema {version}, this one reads up to "
                    f"{SCHEMA_VERSION}); upgrade lamdagent to open it"
                )
            if version < 2:
                self._rebuild_trials(c)
            if version != SCHEMA_VERSION or row is None:
                c.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (json.dumps(SCHEMA_VERSION),),
                )

    @staticmethod
    def _unversioned_version(c: sqlite3.Connection) -> int:
        """A ledger without a version: 1 if its `trials` table predates `interrupted`, else current (new)."""
        sql = c.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'trials'").fetchone()
        return SCHEMA_VERSION if "'interrupted'" in sql["sql"] else 1

    @staticmethod
    def _rebuild_trials(c: sqlite3.Connection) -> None:
        """Copy `trials` into a table with the current CHECK (SQLite cannot alter a CHECK in place). The
        triggers go first, so neither the no-delete trigger nor the immutability one stands in the way, and
        come back on the new table; the caller's transaction makes it all or nothing."""
        c.execute("DROP TRIGGER IF EXISTS trials_immutable")
        c.execute("DROP TRIGGER IF EXISTS trials_no_delete")
        c.execute("DROP INDEX IF EXISTS trials_spec")
        c.execute(TRIALS_TABLE.format(name="trials_new"))
        columns = ", ".join(r["name"] for r in c.execute("PRAGMA table_info(trials)").fetchall())
        c.execute(f"INSERT INTO trials_new ({columns}) SELECT {columns} FROM trials")
        c.execute("DROP TABLE trials")
        c.execute("ALTER TABLE trials_new RENAME TO trials")
        for statement in TRIALS_EXTRAS:
            c.execute(statement)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    # -- trials -------------------------------------------------------------------------------------
    def start_trial(
        self,
        spec: ActionSpec,
        iteration: int,
        rationale: str | None = None,
        fallback: bool = False,
        llm_tokens: int = 0,
        worker: str | None = None,
    ) -> int:
        now = time.time()
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO trials (iteration, spec_hash, spec, action, inputs, state, rationale, fallback,"
                " llm_tokens, pid, worker, started_at, heartbeat_at) VALUES (?,?,?,?,?,'running',?,?,?,?,?,?,?)",
                (
                    iteration,
                    spec.spec_hash(),
                    spec.model_dump_json(),
                    spec.action,
                    json.dumps(spec.inputs),
                    rationale,
                    int(fallback),
                    llm_tokens,
                    os.getpid(),
                    worker,
                    now,
                    now,
                ),
            )
            trial_id = int(cur.lastrowid or 0)
            self._event(c, trial_id, "trial_started", {"spec_hash": spec.spec_hash(), "iteration": iteration})
        return trial_id

    def heartbeat(self, trial_id: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE trials SET heartbeat_at = ? WHERE id = ? AND state = 'running'",
                (time.time(), trial_id),
            )

    def finish_trial(
        self,
        trial_id: int,
        output_model: str,
        metrics: dict[str, dict[str, float]],
        test_metrics: dict[str, dict[str, float]],
        score: float,
        timings: dict[str, float] | None = None,
        cached: bool = False,
    ) -> None:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE trials SET state='finished', output_model=?, metrics=?, test_metrics=?, score=?, timings=?,"
                " cached=?, finished_at=? WHERE id=? AND state='running'",
                (
                    output_model,
                    json.dumps(metrics),
                    json.dumps(test_metrics),
                    score,
                    json.dumps(timings or {}),
                    int(cached),
                    time.time(),
                    trial_id,
                ),
            )
            if cur.rowcount != 1:
                raise RuntimeError(f"trial {trial_id} is not running; it cannot be finished")
            self._event(c, trial_id, "trial_finished", {"score": score, "cached": cached})

    def fail_trial(self, trial_id: int, error: str, timings: dict[str, float] | None = None) -> None:
        """End a running trial as failed (a no-op on one that already ended)."""
        self._end_trial(trial_id, TrialState.FAILED, error, timings)

    def _end_trial(self, trial_id: int, state: TrialState, error: str, timings: dict[str, float] | None) -> None:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE trials SET state=?, error=?, timings=?, finished_at=? WHERE id=? AND state='running'",
                (state.value, error, json.dumps(timings or {}), time.time(), trial_id),
            )
            if cur.rowcount == 1:  # a trial that already ended keeps its story: no event for the no-op
                self._event(c, trial_id, f"trial_{state.value}", {"error": error[:500]})

    def recover(self, stale_after_s: float = 120.0) -> list[int]:
        """Mark interrupted every running trial whose process is gone or silent; returns their ids."""
        rows = self._conn.execute("SELECT id, pid, heartbeat_at FROM trials WHERE state = 'running'").fetchall()
        now = time.time()
        dead = [
            r["id"]
            for r in rows
            if r["pid"] == os.getpid() or not pid_alive(r["pid"]) or now - r["heartbeat_at"] > stale_after_s
        ]
        for trial_id in dead:
            self._end_trial(
                trial_id,
                TrialState.INTERRUPTED,
                "interrupted: the process running this trial died before it finished",
                None,
            )
        return dead

    def trials(self, state: TrialState | str | None = None) -> list[TrialRecord]:
        """All trials in id order, or those in one state."""
        sql, args = SELECT_TRIALS, tuple[str, ...]()
        if state:
            sql, args = sql + " WHERE trials.state = ?", (TrialState(state).value,)
        return [self._decode(r) for r in self._conn.execute(sql + " ORDER BY trials.id", args).fetchall()]

    def add_test_scores(self, model_id: str, metrics: dict[str, dict[str, float]]) -> None:
        """Record a model's test-split scores, measured once at the end of a search (finished trial rows stay as
        they were; every trial that produced or reused the model shows them)."""
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO test_scores (model_id, metrics, created_at) VALUES (?, ?, ?)",
                (model_id, json.dumps(metrics), time.time()),
            )
            self._event(c, None, "test_scores", {"model": model_id})

    def test_scores(self) -> dict[str, dict[str, dict[str, float]]]:
        """Model id -> its test metrics recorded by `add_test_scores`."""
        rows = self._conn.execute("SELECT model_id, metrics FROM test_scores").fetchall()
        return {r["model_id"]: json.loads(r["metrics"]) for r in rows}

    def counted_trials(self) -> list[TrialRecord]:
        """The trials that used up budget: all but the interrupted ones (see `TrialRecord.counts_against_budget`)."""
        return [t for t in self.trials() if t.counts_against_budget]

    def trial(self, trial_id: int) -> TrialRecord:
        row = self._conn.execute(SELECT_TRIALS + " WHERE trials.id = ?", (trial_id,)).fetchone()
        if row is None:
            raise KeyError(trial_id)
        return self._decode(row)

    def finished_by_hash(self, spec_hash: str) -> TrialRecord | None:
        row = self._conn.execute(
            SELECT_TRIALS + " WHERE trials.spec_hash = ? AND trials.state = ? ORDER BY trials.id LIMIT 1",
            (spec_hash, TrialState.FINISHED.value),
        ).fetchone()
        return self._decode(row) if row else None

    @staticmethod
    def _decode(r: sqlite3.Row) -> TrialRecord:
        def js(v: str | None) -> Any:
            return json.loads(v) if v else {}

        return TrialRecord(
            id=r["id"],
            iteration=r["iteration"],
            spec_hash=r["spec_hash"],
            spec=ActionSpec.model_validate_json(r["spec"]),
            state=TrialState(r["state"]),
            output_model=r["output_model"],
            metrics=js(r["metrics"]),
            test_metrics=js(r["test_metrics"]) or js(r["final_test"]),
            score=r["score"],
            error=r["error"],
            rationale=r["rationale"],
            fallback=bool(r["fallback"]),
            cached=bool(r["cached"]),
            llm_tokens=r["llm_tokens"],
            timings=js(r["timings"]),
            worker=r["worker"],
            started_at=r["started_at"],
            finished_at=r["finished_at"],
        )

    # -- events and memory --------------------------------------------------------------------------
    def _event(self, c: sqlite3.Connection, trial_id: int | None, kind: str, payload: dict[str, Any]) -> None:
        c.execute(
            "INSERT INTO events (ts, trial_id, kind, payload) VALUES (?, ?, ?, ?)",
            (time.time(), trial_id, kind, json.dumps(payload, default=str)),
        )

    def log_event(self, kind: str, payload: dict[str, Any], trial_id: int | None = None) -> None:
        with self._tx() as c:
            self._event(c, trial_id, kind, payload)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM events", tuple[str, ...]()
        if kind:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return [
            {
                "id": r["id"],
                "ts": r["ts"],
                "trial_id": r["trial_id"],
                "kind": r["kind"],
                "payload": json.loads(r["payload"]),
            }
            for r in self._conn.execute(sql + " ORDER BY id", args).fetchall()
        ]

    def add_memory(self, text: str, trial_id: int | None = None) -> int:
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO memory (trial_id, text, created_at) VALUES (?, ?, ?)",
                (trial_id, text, time.time()),
            )
            return int(cur.lastrowid or 0)

    def memory(self) -> str:
        row = self._conn.execute("SELECT text FROM memory ORDER BY version DESC LIMIT 1").fetchone()
        return row["text"] if row else ""

    def memory_versions(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute("SELECT * FROM memory ORDER BY version").fetchall()]

    def total_llm_tokens(self) -> int:
        row = self._conn.execute("SELECT COALESCE(SUM(llm_tokens), 0) AS n FROM trials").fetchone()
        extra = self._conn.execute(
            "SELECT COALESCE(SUM(json_extract(payload, '$.tokens')), 0) AS n FROM events WHERE kind = 'memory_update'"
        ).fetchone()
        return int(row["n"]) + int(extra["n"])
