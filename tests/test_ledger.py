"""The ledger keeps finished trials immutable and turns interrupted ones into failed records."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time

import pytest

from lamdagent.ledger import Ledger
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
        assert trials[1].state == "failed" and "interrupted" in trials[1].error
        assert led.recover() == []
