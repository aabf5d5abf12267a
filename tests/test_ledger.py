"""The ledger keeps ended trials immutable, marks those of dead processes interrupted, and migrates old files."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from lamdagent.errors import LamdagentError
from lamdagent.ledger import SCHEMA_VERSION, Ledger, TrialState
from lamdagent.spec import ActionSpec


def _spec(lr: float = 1e-4) -> ActionSpec:
    return ActionSpec(
        action="sft",
        inputs={"model": "base", "data": "d"},
        params={"learning_rate": lr},
        fingerprints={"base": "f0", "d": "f1"},
    )


def test_trial_lifecycle_and_lookup(tmp_path):
    with Ledger(tmp_path) as led:
        tid = led.start_trial(_spec(), iteration=1, rationale="try sft", llm_tokens=12)
        assert led.trial(tid).state == "running"
        led.finish_trial(tid, "m1", {"t": {"acc": 0.5}}, {"t": {"acc": 0.4}}, 0.5, timings={"wall_s": 3.0})
        rec = led.trial(tid)
        assert (rec.state, rec.output_model, rec.score, rec.rationale) == ("finished", "m1", 0.5, "try sft")
        assert rec.metrics == {"t": {"acc": 0.5}} and rec.test_metrics == {"t": {"acc": 0.4}}
        assert led.finished_by_hash(_spec().spec_hash()).id == tid
        assert led.finished_by_hash(_spec(2e-4).spec_hash()) is None
        assert led.total_llm_tokens() == 12


def test_finished_trials_cannot_be_modified_or_deleted(tmp_path):
    with Ledger(tmp_path) as led:
        tid = led.start_trial(_spec(), iteration=1)
        led.finish_trial(tid, "m1", {}, {}, 0.5)
        raw = sqlite3.connect(led.path)
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            raw.execute("UPDATE trials SET score = 0.9 WHERE id = ?", (tid,))
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            raw.execute("DELETE FROM trials")
        raw.close()
        with pytest.raises(RuntimeError, match="not running"):
            led.finish_trial(tid, "m2", {}, {}, 0.9)
        led.fail_trial(tid, "late failure")  # a no-op on a finished trial
        assert led.trial(tid).state == "finished" and led.trial(tid).score == 0.5


def test_memory_versions_are_kept(tmp_path):
    with Ledger(tmp_path) as led:
        assert led.memory() == ""
        led.add_memory("v1")
        led.add_memory("v2", trial_id=None)
        assert led.memory() == "v2"
        assert [m["text"] for m in led.memory_versions()] == ["v1", "v2"]


def _start_and_hang(run_dir: str, ready: multiprocessing.synchronize.Event) -> None:
    led = Ledger(run_dir)
    done = led.start_trial(_spec(1.0), iteration=1)
    led.finish_trial(done, "m-done", {"t": {"acc": 1.0}}, {}, 1.0)
    led.start_trial(_spec(2.0), iteration=2)
    ready.set()
    time.sleep(60)


def test_sigkill_leaves_a_consistent_ledger(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_start_and_hang, args=(str(tmp_path), ready))
    proc.start()
    assert ready.wait(60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    with Ledger(tmp_path) as led:
        assert [t.state for t in led.trials()] == ["finished", "running"]
        recovered = led.recover()
        trials = led.trials()
        assert recovered == [trials[1].id]
        assert trials[0].state == "finished" and trials[0].score == 1.0
        assert trials[1].state == TrialState.INTERRUPTED == "interrupted" and "died" in trials[1].error
        assert led.recover() == []
        assert [t.id for t in led.counted_trials()] == [trials[0].id]  # the interrupted one is not counted
        assert [t.id for t in led.trials(TrialState.INTERRUPTED)] == [trials[1].id]


def test_interrupted_trials_are_immutable(tmp_path):
    with Ledger(tmp_path) as led:
        tid = led.start_trial(_spec(), iteration=1)
        assert led.recover(stale_after_s=0.0) == [tid]  # this process's own running trial counts as dead
        assert led.trial(tid).state == "interrupted" and not led.trial(tid).counts_against_budget
        raw = sqlite3.connect(led.path)
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            raw.execute("UPDATE trials SET state = 'running' WHERE id = ?", (tid,))
        raw.close()
        with pytest.raises(RuntimeError, match="not running"):
            led.finish_trial(tid, "m", {}, {}, 1.0)
        led.fail_trial(tid, "late")  # a no-op
        assert led.trial(tid).state == TrialState.INTERRUPTED
        assert [e["kind"] for e in led.events()] == ["trial_started", "trial_interrupted"]


# The schema of the first ledgers, verbatim: no `interrupted` state, no version in meta.
SCHEMA_V1 = Path(__file__).parent / "fixtures" / "ledger_schema_v1.sql"


def _old_ledger(run_dir) -> None:
    """A ledger as the first lamdagent wrote it: finished, failed (the old "interrupted:" form) and running."""
    raw = sqlite3.connect(run_dir / Ledger.FILENAME)
    raw.executescript(SCHEMA_V1.read_text())
    rows = [
        (1, _spec(1.0), "finished", "m1", 0.5, None, 111),
        (2, _spec(2.0), "failed", None, None, "interrupted: the process running this trial died", 222),
        (3, _spec(3.0), "running", None, None, None, 2**22 + 12345),  # a pid no process has
    ]
    for iteration, spec, state, model, score, error, pid in rows:
        raw.execute(
            "INSERT INTO trials (iteration, spec_hash, spec, action, inputs, state, output_model, metrics, score,"
            " error, pid, started_at, heartbeat_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                iteration,
                spec.spec_hash(),
                spec.model_dump_json(),
                spec.action,
                "{}",
                state,
                model,
                '{"t": {"acc": 0.5}}' if model else None,
                score,
                error,
                pid,
                1.0,
                1.0,
            ),
        )
    raw.execute("INSERT INTO events (ts, trial_id, kind, payload) VALUES (1.0, 1, 'trial_finished', '{}')")
    raw.execute("INSERT INTO meta (key, value) VALUES ('base', '{}')")
    raw.commit()
    raw.close()


def test_an_old_ledger_is_migrated_keeping_rows_and_triggers(tmp_path):
    _old_ledger(tmp_path)
    before = sqlite3.connect(tmp_path / Ledger.FILENAME).execute("SELECT * FROM trials ORDER BY id").fetchall()
    with Ledger(tmp_path) as led:
        assert led.get_meta("schema_version") == SCHEMA_VERSION and led.get_meta("base") == {}
        raw = sqlite3.connect(led.path)
        assert raw.execute("SELECT * FROM trials ORDER BY id").fetchall() == before  # every row, every column
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type IN ('trigger', 'index')")}
        assert {"trials_immutable", "trials_no_delete", "trials_spec"} <= names
        assert "trials_new" not in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            raw.execute("UPDATE trials SET score = 0.9 WHERE id = 1")
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            raw.execute("DELETE FROM trials")
        raw.close()
        assert [e["kind"] for e in led.events()] == ["trial_finished"]
        assert led.recover() == [3]  # the new state is accepted now
        assert [t.state for t in led.trials()] == ["finished", "failed", "interrupted"]
        assert led.start_trial(_spec(4.0), iteration=4) == 4  # ids go on after the old ones
    with Ledger(tmp_path) as led:  # opening again changes nothing
        assert [t.id for t in led.counted_trials()] == [1, 2, 4]


def test_a_ledger_from_a_newer_lamdagent_is_refused(tmp_path):
    with Ledger(tmp_path) as led:
        led.set_meta("schema_version", SCHEMA_VERSION + 1)
    with pytest.raises(LamdagentError, match="newer lamdagent"):
        Ledger(tmp_path)
