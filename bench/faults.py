"""Fault suite: SIGKILL a real run during training, merging, evaluation and ledger writes, resume it, repeat.

    python bench/faults.py [--rounds 20] [--budget N] [--seed 0] [--out FILE] [--work DIR]

lamdagent promises (docs/reliability.md) that a `kill -9` of the driving process at any moment loses no
finished trial, never corrupts the ledger, takes its workers with it, and that `lamdagent run --resume` runs
the interrupted trial again without counting it against the budget. This bench holds a real run to that: a
tiny random Llama, actions sft, dpo and linear (so every round trains, merges and evaluates), a random policy.

Each round starts `python -m lamdagent.cli run CONFIG --run-dir RUN [--resume]`, aims at one phase (cycled,
in a seeded order: training, merging, evaluation, ledger write, or any moment), watches the run directory
until that phase is under way (optionally letting one trial end first), waits a seeded random time within it,
and sends SIGKILL to the driver alone, as `kill -9` would. The phase a kill really hit is read afterwards from
the frozen run directory (the running trial's staging dir, committed model, `worker.log`, `result.json`, and
the ledger), so a kill that arrives after its phase ended is recorded as what it hit. After each kill:
`PRAGMA integrity_check` must say `ok`; every trial row ever seen ended (finished, failed, interrupted) must
still be there with the same state, spec hash, metrics, output model and score, and each finished one's model
complete; no worker process of the run may survive. A last resume runs to completion without a kill; then
the trials that count must equal the budget, and every interrupted trial's spec must have been run again.

A table goes to stderr and the JSON to stdout (or FILE). One round takes 10-40 s on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TARGETS = ("training", "merging", "evaluation", "ledger write", "any")
# How long after its phase is seen a kill may wait (uniform from 0): about the phase's length on a slow CPU,
# so some kills land late in it; the ledger's window (result written, not yet recorded) is short.
JITTER_S = {"training": 2.5, "merging": 0.8, "evaluation": 1.5, "ledger write": 0.3}
ANY_S = (0.5, 20.0)  # an "any" round kills at a uniform time in this range after the driver starts
POLL_S = 0.03
ROUND_LIMIT_S = 45.0  # a phase not seen by then: kill anyway and record what was hit
WORKER_GONE_S = 15.0  # how long dying workers get before they count as orphans
FINETUNE = ("sft", "dpo")


def run_config(base: Path, budget: int, seed: int) -> dict[str, Any]:
    """The tiny search: one optimiser step per training, four evaluation items per split, all three kinds."""
    from lamdagent.models.tiny import tiny_run_config

    train = {"max_steps": 1, "batch_size": 4, "max_length": 512}
    return tiny_run_config(
        base,
        actions=["sft", "dpo", "linear"],
        params={"sft": dict(train), "dpo": dict(train)},
        grids={
            "sft": {"learning_rate": [1e-4, 1e-3]},
            "dpo": {"beta": [0.1, 0.5]},
            "linear": {"weight": [0.3, 0.5, 0.7]},
        },
        budget={"iterations": budget},
        seed=seed,
    )


# -- reading the run from outside --------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """The parts of a trial row that must never change once it has ended."""

    id: int
    state: str
    spec_hash: str
    action: str
    metrics: str | None
    output_model: str | None
    score: float | None


@dataclass
class LedgerView:
    """What the ledger holds at one moment (read by this process, never through lamdagent's writer)."""

    started: bool = False  # the config is recorded: `--resume` applies
    bases_done: bool = False
    rows: dict[int, Row] = field(default_factory=dict)
    drivers: dict[int, int] = field(default_factory=dict)  # trial id -> pid of the driver that started it


def read_ledger(run: Path, readonly: bool = True) -> LedgerView | None:
    """The ledger's rows, or None while it cannot be read (not created yet, mid-creation). Read-only while the
    driver lives, so watching never takes a write lock the run could wait on."""
    path = run / "ledger.sqlite"
    if not path.exists():
        return LedgerView()
    target = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    try:
        conn = sqlite3.connect(target, uri=True, timeout=0.5 if readonly else 30)
    except sqlite3.Error:
        return None
    try:
        meta = {k for (k,) in conn.execute("SELECT key FROM meta WHERE key IN ('config', 'base')")}
        rows = conn.execute(
            "SELECT id, state, spec_hash, action, metrics, output_model, score, pid FROM trials ORDER BY id"
        ).fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return LedgerView("config" in meta, "base" in meta, {r[0]: Row(*r[:7]) for r in rows}, {r[0]: r[7] for r in rows})


def integrity(run: Path) -> str:
    """SQLite's own check of the whole file, after a kill (a normal connection: it replays the WAL first)."""
    path = run / "ledger.sqlite"
    if not path.exists():
        return "ok"  # killed before the ledger existed: nothing to corrupt
    conn = sqlite3.connect(path, timeout=30)
    try:
        return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check").fetchall())
    except sqlite3.Error as exc:
        return f"unreadable: {exc}"
    finally:
        conn.close()


def model_complete(run: Path, model_id: str | None) -> bool:
    """A model the store would use: its metadata says complete (written last, by the atomic commit)."""
    try:
        meta = json.loads((run / "models" / str(model_id) / "lamdagent.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("complete") is True


def classify(run: Path, view: LedgerView | None, budget: int, driver: int) -> tuple[str, str, int | None]:
    """(phase, detail, trial id) of the run driven by pid `driver` now, from the ledger and the running
    trial's files (those of a trial an earlier, killed driver left running say nothing about this one)."""
    if view is None or not view.started:
        return "startup", "opening the run", None
    if any(r.state == "running" and view.drivers.get(r.id) != driver for r in view.rows.values()):
        return "startup", "resuming: the killed driver's trial not yet marked interrupted", None
    if not view.bases_done:
        return "startup", "evaluating the initial model", None
    running = [r for r in view.rows.values() if r.state == "running"]
    if not running:
        counted = sum(r.state in ("finished", "failed") for r in view.rows.values())
        last = max(view.rows, default=None)
        if counted >= budget:
            return "final test", "budget spent: scoring the best models on test, stopping", last
        return "ledger write", "between trials: recording, memory, asking the policy", last
    trial = running[-1]
    job = run / "jobs" / f"trial-{trial.id:04d}"
    model_id = "m" + trial.spec_hash[:11]
    log = job / "worker.log"
    if (job / "result.json").exists():
        return "ledger write", "result written, not yet recorded", trial.id
    if not log.exists():
        return "ledger write", "launching: trial recorded, worker not started", trial.id
    if any((run / "models").glob(f".staging-{model_id}-*")):
        kind = "training" if trial.action in FINETUNE else "merging"
        return kind, f"{trial.action} writing its staging dir", trial.id
    if model_complete(run, model_id) and log.stat().st_size > 0:  # (a re-run whose model was committed skips
        return "evaluation", f"{trial.action} model committed, being evaluated", trial.id  # training)
    return "worker start", "worker importing its libraries", trial.id


def run_workers(run: Path) -> list[int]:
    """Pids of worker processes of this run (their command line names a job dir inside it)."""
    out = subprocess.run(
        ["pgrep", "-f", f"lamdagent.execution.worker {run}/"], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


# -- the suite ---------------------------------------------------------------------------------------------
@dataclass
class Suite:
    """One run killed round after round; it keeps every ended row it has seen, to compare after each kill."""

    work: Path
    config: Path
    budget: int
    seed: int
    rng: random.Random
    run: Path
    ended: dict[int, Row] = field(default_factory=dict)
    running_at_kill: dict[int, str] = field(default_factory=dict)  # trial id -> phase of the kill
    rounds: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lost: set[int] = field(default_factory=set)
    integrity_failures: int = 0
    orphans: int = 0

    def command(self) -> list[str]:
        view = read_ledger(self.run, readonly=False)
        # a run killed before its config was recorded never started: the same command (no --resume) claims it
        resume = ["--resume"] if view is not None and view.started else []
        return [sys.executable, "-m", "lamdagent.cli", "run", str(self.config), "--run-dir", str(self.run), *resume]

    def start(self, name: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - the child holds it; closed below
        try:
            return subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        finally:
            log.close()

    def remember(self, view: LedgerView | None) -> None:
        """Add the rows that have ended; an ended row must look the same at every later check."""
        for row in (view.rows if view else {}).values():
            if row.state != "running":
                self.ended.setdefault(row.id, row)

    def check(self, label: str) -> dict[str, Any]:
        """After a kill (or the last run): integrity, ended rows unchanged, finished models complete."""
        status = integrity(self.run)
        if status != "ok":
            self.integrity_failures += 1
            self.problems.append(f"{label}: integrity_check says {status!r}")
        view = read_ledger(self.run, readonly=False) or LedgerView()
        lost = []
        for tid, before in self.ended.items():
            now = view.rows.get(tid)
            if now != before:
                lost.append(tid)
                self.problems.append(f"{label}: trial {tid} was {before} and is now {now}")
        for row in view.rows.values():
            if row.state == "finished" and not model_complete(self.run, row.output_model):
                lost.append(row.id)
                self.problems.append(f"{label}: finished trial {row.id}'s model {row.output_model} is not complete")
        self.lost.update(lost)
        self.remember(view)
        return {"integrity": status, "lost": sorted(set(lost)), "view": view}

    def reap_workers(self, label: str) -> int:
        """Wait for the run's workers to die with their driver; any still alive is an orphan (then killed)."""
        deadline = time.monotonic() + WORKER_GONE_S
        while (pids := run_workers(self.run)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in pids:
            self.problems.append(f"{label}: worker {pid} outlived its driver by {WORKER_GONE_S:.0f} s")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.orphans += len(pids)
        return len(pids)

    def round(self, index: int, target: str) -> dict[str, Any]:
        """Start (or resume) the run, kill it in the target phase, check what the kill left."""
        t0 = time.monotonic()
        label = f"round {index}"
        before = read_ledger(self.run, readonly=False) or LedgerView()
        resumed = before.started
        # let one trial of this round end before aiming, so the run moves on (a merge is rare enough already)
        skip = self.rng.random() < 0.5 and target != "merging"
        min_id = max(before.rows, default=0) + 1 + int(skip)
        kill_at = self.rng.uniform(*ANY_S) if target == "any" else None
        jitter = self.rng.uniform(0.0, JITTER_S.get(target, 0.0))
        proc = self.start(f"round-{index:02d}")
        seen_at: float | None = None
        try:
            while proc.poll() is None:
                now = time.monotonic() - t0
                view = read_ledger(self.run)
                self.remember(view)
                if kill_at is None and seen_at is None:
                    phase, _detail, tid = classify(self.run, view, self.budget, proc.pid)
                    if phase == target and tid is not None and tid >= min_id:
                        seen_at, kill_at = now, now + jitter
                if kill_at is None and now > ROUND_LIMIT_S:
                    kill_at = now
                if kill_at is not None and now >= kill_at:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
                time.sleep(POLL_S)
            killed_after = time.monotonic() - t0
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        killed = code == -signal.SIGKILL
        orphans = self.reap_workers(label)
        view = read_ledger(self.run, readonly=False)
        phase, detail, tid = (
            classify(self.run, view, self.budget, proc.pid) if killed else ("no kill", "run ended", None)
        )
        if not killed and code != 0:
            self.problems.append(f"{label}: the run exited with code {code} (see {self.work}/round-{index:02d}.log)")
        checked = self.check(label)
        for row in checked["view"].rows.values():
            if row.state == "running":
                self.running_at_kill.setdefault(row.id, phase)
        record = {
            "round": index,
            "target": target,
            "target_seen": seen_at is not None,
            "phase": phase,
            "detail": detail,
            "trial": tid,
            "action": checked["view"].rows[tid].action if tid in checked["view"].rows else None,
            "resumed": resumed,
            "killed_after_s": round(killed_after, 2),
            "exit_code": code,
            "integrity": checked["integrity"],
            "lost": checked["lost"],
            "orphans": orphans,
            "seconds": round(time.monotonic() - t0, 2),
        }
        self.rounds.append(record)
        return record

    def finish(self, timeout_s: float) -> dict[str, Any]:
        """Resume without a kill to the end of the budget, then check the whole run."""
        t0 = time.monotonic()
        proc = self.start("final")
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            self.problems.append(f"final run: still running after {timeout_s:.0f} s; killed")
        if code != 0:
            self.problems.append(f"final run: exit code {code} (see {self.work}/final.log)")
        self.reap_workers("final run")
        checked = self.check("final run")
        rows = list(checked["view"].rows.values())
        states = Counter(r.state for r in rows)
        interrupted = [r for r in rows if r.state == "interrupted"]
        rerun = [
            r
            for r in interrupted
            if any(s.id > r.id and s.spec_hash == r.spec_hash and s.state in ("finished", "failed") for s in rows)
        ]
        for r in interrupted:
            if r not in rerun:
                self.problems.append(f"interrupted trial {r.id} ({r.action}) was never run again")
            if r.id not in self.running_at_kill:
                self.problems.append(f"trial {r.id} is interrupted but was not running at any kill")
        for tid in self.running_at_kill:
            if tid not in {r.id for r in interrupted}:
                self.problems.append(f"trial {tid} was running at a kill but is {checked['view'].rows.get(tid)}")
        counted = states["finished"] + states["failed"]
        if counted != self.budget:
            self.problems.append(f"{counted} trials count against the budget of {self.budget}")
        if states["failed"]:
            self.problems.append(f"{states['failed']} trial(s) failed (see the ledger's error column)")
        return {
            "exit_code": code,
            "seconds": round(time.monotonic() - t0, 2),
            "integrity": checked["integrity"],
            "finished": states["finished"],
            "failed": states["failed"],
            "counted": counted,
            "interrupted": len(interrupted),
            "rerun": len(rerun),
            "actions": dict(Counter(r.action for r in rows if r.state == "finished")),
        }


def schedule(rounds: int, rng: random.Random) -> list[str]:
    """The phase each round aims at: every target once per block of five, in a seeded order."""
    out: list[str] = []
    while len(out) < rounds:
        block = list(TARGETS)
        rng.shuffle(block)
        out += block
    return out[:rounds]


def default_budget(rounds: int) -> int:
    """Enough trials that the rounds (0.9 counted trial each, measured on 2 idle cores) end before the budget."""
    return max(4, rounds + 5)


def run_suite(
    rounds: int = 20,
    budget: int | None = None,
    seed: int = 0,
    work: Path | None = None,
    base: Path | None = None,
    final_timeout_s: float = 1800.0,
    progress: Any = None,
) -> dict[str, Any]:
    """Run the suite in `work` (a new temporary folder by default) and return its figures as a dict.

    `base`: a tiny model dir already built (tests share theirs); by default one is built in `work`.
    `progress`: called with each round's record as it ends.
    """
    t0 = time.monotonic()
    load_before = os.getloadavg()
    work = Path(work or tempfile.mkdtemp(prefix="lamdagent-faults-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    budget = budget or default_budget(rounds)
    if base is None:
        from lamdagent.models.embedded import embedded_model_dir
        from lamdagent.models.tiny import make_tiny_llama

        base = make_tiny_llama(work / "tiny-llama", embedded_model_dir(), seed=seed)
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(run_config(base, budget, seed), sort_keys=False))
    rng = random.Random(seed)
    suite = Suite(work=work, config=config, budget=budget, seed=seed, rng=rng, run=work / "run")
    for index, target in enumerate(schedule(rounds, rng), start=1):
        record = suite.round(index, target)
        if progress is not None:
            progress(record)
    final = suite.finish(final_timeout_s)
    kills = [r for r in suite.rounds if r["exit_code"] == -signal.SIGKILL]
    return {
        "rounds": rounds,
        "budget": budget,
        "seed": seed,
        "kills": len(kills),
        "kills_per_phase": dict(Counter(r["phase"] for r in kills)),
        "aimed_kills": sum(r["target"] != "any" for r in kills),
        "targets_hit": sum(r["target"] == r["phase"] for r in kills),
        "trials_lost": len(suite.lost),
        "integrity_failures": suite.integrity_failures,
        "orphan_workers": suite.orphans,
        "interrupted_trials": final["interrupted"],
        "rerun_trials": final["rerun"],
        "finished_trials": final["finished"],
        "failed_trials": final["failed"],
        "budget_respected": final["counted"] == budget,
        "final_exit_code": final["exit_code"],
        "final": final,
        "problems": suite.problems,
        "total_s": round(time.monotonic() - t0, 1),
        "round_s": {
            "mean": round(sum(r["seconds"] for r in suite.rounds) / max(1, len(suite.rounds)), 1),
            "max": max((r["seconds"] for r in suite.rounds), default=0.0),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "work": str(work),
        "per_round": suite.rounds,
    }


def print_tables(result: dict[str, Any], console: Any) -> None:
    """The rounds, then the figures, as rich tables."""
    from rich.table import Table

    rounds = Table(title=f"fault suite: {result['rounds']} rounds, budget {result['budget']}, seed {result['seed']}")
    for col in ("#", "aimed at", "hit", "detail", "trial", "after s", "integrity", "lost", "orphans", "round s"):
        rounds.add_column(col, justify="right" if col in ("#", "trial", "after s", "lost", "orphans") else "left")
    for r in result["per_round"]:
        rounds.add_row(
            str(r["round"]),
            r["target"],
            r["phase"],
            r["detail"],
            f"{r['trial']} {r['action'] or ''}".strip() if r["trial"] else "",
            f"{r['killed_after_s']:.1f}",
            r["integrity"],
            str(len(r["lost"])),
            str(r["orphans"]),
            f"{r['seconds']:.0f}",
        )
    console.print(rounds)
    figures = Table(title="figures")
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    figures.add_row(
        "kills (aimed at a phase / hit it)", f"{result['kills']} ({result['aimed_kills']} / {result['targets_hit']})"
    )
    for key in ("trials_lost", "integrity_failures", "orphan_workers"):
        figures.add_row(key, str(result[key]))
    figures.add_row("kills per phase", ", ".join(f"{k} {v}" for k, v in sorted(result["kills_per_phase"].items())))
    figures.add_row("interrupted / re-run", f"{result['interrupted_trials']} / {result['rerun_trials']}")
    figures.add_row(
        "finished / failed / budget", f"{result['finished_trials']} / {result['failed_trials']} / {result['budget']}"
    )
    figures.add_row("round seconds (mean, max)", f"{result['round_s']['mean']} / {result['round_s']['max']:.0f}")
    figures.add_row("total seconds", str(result["total_s"]))
    figures.add_row("problems", str(len(result["problems"])))
    console.print(figures)
    for problem in result["problems"]:
        console.print(f"[red]problem:[/] {problem}", highlight=False)


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="kills (one per round) before the last resume")
    parser.add_argument("--budget", type=int, help="trials of the run (default: rounds + 5)")
    parser.add_argument("--seed", type=int, default=0, help="the kill times, phases and the policy's choices")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    parser.add_argument("--work", help="folder for the model, config, run and logs (default: a new temp folder)")
    args = parser.parse_args(argv)
    console = Console(stderr=True, width=160)  # the round table stays one line a round in a log

    def progress(r: dict[str, Any]) -> None:
        console.print(
            f"round {r['round']:>2}: aimed at {r['target']}, hit {r['phase']} ({r['detail']}) after "
            f"{r['killed_after_s']:.1f} s; integrity {r['integrity']}, lost {len(r['lost'])}, orphans {r['orphans']}",
            highlight=False,
        )

    result = run_suite(args.rounds, args.budget, args.seed, Path(args.work) if args.work else None, progress=progress)
    print_tables(result, console)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
