"""The Ray executor on a local 2-CPU instance: a parallel search, a timeout, and a driver killed mid-run."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from parallel_helpers import check_parallel_run, descendants, pgrep, tiny_config, wait_for

from lamdagent.cli import main as cli_main
from lamdagent.config import RunConfig
from lamdagent.errors import LamdagentError
from lamdagent.execution.job import Job
from lamdagent.io import pid_alive
from lamdagent.ledger import Ledger
from lamdagent.loop import Loop


def test_without_ray_the_error_is_one_line_with_the_install_command(monkeypatch):
    from lamdagent.execution.ray import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # what a missing package looks like to `import ray`
    with pytest.raises(LamdagentError) as err:
        RayExecutor.create(RayExecutor.Options(parallel=2))
    assert "pip install 'lamdagent[ray]'" in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(scope="module")
def ray_env() -> Iterator[Path]:
    """Ray without token authentication and with its files in a short directory of this test module."""
    short = Path(tempfile.mkdtemp(prefix="lgt-"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        mp.setenv("LAMDAGENT_RAY_TMPDIR", str(short))
        yield short
    for pid in pgrep(str(short)):  # only if a test failed half-way: nothing of ours may outlive the module
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(short, ignore_errors=True)


@pytest.fixture(scope="module")
def local_ray(ray_env: Path) -> Iterator[None]:
    """One local Ray instance with 2 CPUs for the in-process tests; executors built on it leave it running."""
    import ray

    from lamdagent.execution.ray import LocalRay

    instance = LocalRay.start(ray, num_cpus=2)
    assert ray.cluster_resources()["CPU"] == 2
    yield
    instance.stop(ray)
    assert wait_for(lambda: not pgrep(str(instance.temp_dir)), 30), "the local instance outlived its stop"
    assert not instance.temp_dir.exists()


@pytest.mark.slow
def test_ray_search_runs_two_trials_at_once(local_ray, tiny_model_dir, tmp_path):
    from lamdagent.execution.ray import RayExecutor

    cfg = RunConfig.model_validate(tiny_config(tiny_model_dir, executor={"kind": "ray", "parallel": 2}))
    executor = RayExecutor.create(cfg.executor_options())
    loop = Loop.open(cfg, tmp_path / "run", executor=executor)
    check_parallel_run(loop, loop.run(), budget=4)
    assert not pgrep(str(tmp_path / "run"))  # no worker left behind


@pytest.mark.slow
def test_ray_timeout_cancels_the_task_and_its_worker(local_ray, tiny_model_dir, tmp_path):
    from lamdagent.execution.ray import RayExecutor

    cfg = RunConfig.model_validate(tiny_config(tiny_model_dir, budget={"iterations": 1}))
    loop = Loop.open(cfg, tmp_path / "run")  # only to build the pool and a job
    # a job that would train for a long time, under a 6 s limit
    spec = loop.pool.candidates().build_spec("sft", {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    spec = spec.model_copy(update={"params": {**spec.params, "max_steps": 100_000}})
    job: Job = loop.ctx.job(1, spec, spec.model_id())
    job.inputs["data"] = loop.pool.datasets["tool_sft"].model_dump(mode="json")
    executor = RayExecutor(timeout_s=6, parallel=1)
    t0 = time.time()
    handle = executor.submit(job)
    assert wait_for(lambda: pgrep(job.job_dir), 30), "the worker never started"
    ended = executor.wait()
    assert [h for h, _ in ended] == [handle] and ended[0][1].error.startswith("timeout")
    assert time.time() - t0 < 30
    assert wait_for(lambda: not pgrep(job.job_dir), 15), "the worker survived its cancelled task"
    assert not executor.running()
    executor.shutdown()


def _running_and_finished(run: Path) -> tuple[int, int]:
    if not (run / "ledger.sqlite").exists():
        return 0, 0
    with Ledger(run) as led:
        states = [t.state for t in led.trials()]
    return states.count("running"), states.count("finished")


@pytest.mark.slow
def test_killed_driver_leaves_no_process_and_the_run_resumes(ray_env, tiny_model_dir, tmp_path):
    cfg = tiny_config(tiny_model_dir, budget={"iterations": 4}, actions=["sft"], grids={})
    step = {"action": "sft", "inputs": {"model": "base", "data": "tool_sft"}}
    short, long = {"max_steps": 1, "batch_size": 4, "max_length": 256}, {"max_steps": 100_000, "batch_size": 4}
    # step 1 ends quickly; steps 2 and 3 train until the kill; step 4 is what the resumed run has left to do
    cfg["policy"] = {
        "name": "fixed",
        "pipeline": [
            {**step, "params": {**short, "learning_rate": 1e-4}},
            {**step, "params": {**long, "learning_rate": 2e-4}},
            {**step, "params": {**long, "learning_rate": 3e-4}},
            {**step, "params": {**short, "learning_rate": 4e-4}},
        ],
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    others = set(ray_env.glob("lgray-*"))  # the module's own instance, if it runs
    cmd = [sys.executable, "-m", "lamdagent.cli", "run", str(path), "--run-dir", str(run)]
    log = tmp_path / "driver.log"
    with open(log, "wb") as out:
        driver = subprocess.Popen(
            [*cmd, "--executor", "ray", "--parallel", "2"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    tree: list[int] = []
    try:
        assert wait_for(lambda: _running_and_finished(run) == (2, 1) or driver.poll() is not None, 240)
        assert driver.poll() is None, log.read_text()[-2000:]
        # trials in flight have heartbeats: the driver touches them while it waits
        assert wait_for(lambda: _heartbeats_advanced(run), 15)
        assert wait_for(lambda: len(pgrep(str(run / "jobs"))) >= 2, 30)  # both workers are up
        (ray_dir,) = set(ray_env.glob("lgray-*")) - others  # the driver's own local instance
        assert pgrep(str(ray_dir))
        tree = descendants(driver.pid)
        before = {t.id: t for t in Ledger(run).trials()}
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        # nothing survives the driver: trial workers, Ray's raylet, GCS, agents and workers
        assert wait_for(lambda: not [p for p in tree if pid_alive(p)], 30), [
            (p, Path(f"/proc/{p}/cmdline").read_bytes()[:80]) for p in tree if pid_alive(p)
        ]
        assert not pgrep(str(run)) and not pgrep(str(ray_dir))
        assert wait_for(lambda: not ray_dir.exists(), 10), "the Ray directory was not removed"
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid in tree:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert [t.state for t in Ledger(run).trials()] == ["finished", "running", "running"]
    # resumed with one trial of budget, which the finished trial has used: the two interrupted trials (which
    # would train for long when run again) are recorded as interrupted, and nothing else runs
    assert cli_main([*cmd[3:], "--executor", "ray", "--parallel", "2", "--resume", "--budget", "1"]) == 0
    trials = Ledger(run).trials()
    # the finished trial is kept as it was (its test scores, measured once at the end, are joined on read)
    assert len(trials) == 3 and dataclasses.replace(trials[0], test_metrics={}) == before[1]
    assert [t.state for t in trials] == ["finished", "interrupted", "interrupted"]
    assert all("interrupted" in (t.error or "") for t in trials[1:3])
    assert not pgrep(str(run))


def _heartbeats_advanced(run: Path) -> bool:
    with sqlite3.connect(run / "ledger.sqlite") as db:
        rows = db.execute("SELECT started_at, heartbeat_at FROM trials WHERE state = 'running'").fetchall()
    return len(rows) == 2 and all(beat > start + 1 for start, beat in rows)
