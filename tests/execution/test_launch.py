"""Worker command lines (plain and accelerate), the rank logic of the worker, and GPU shares of the local executor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lamdagent.errors import LamdagentError
from lamdagent.execution.executor import LocalExecutor
from lamdagent.execution.job import Job, JobResult
from lamdagent.execution.launch import WORKER_MODULE, Role, gpu_processes, process_role, worker_command
from lamdagent.execution.worker import run_helper, trains_together
from lamdagent.spec import ActionSpec, ModelRef

TASK = {
    "name": "tool_use",
    "source": "builtin:tool_use",
    "options": {"val_size": 4, "test_size": 4, "max_new_tokens": 8},
}


def test_one_gpu_or_cpu_runs_the_worker_module_directly(tmp_path):
    assert worker_command(tmp_path / "job", 1, python="py") == ["py", "-m", WORKER_MODULE, str(tmp_path / "job")]
    assert worker_command("j", 0)[:3] == [sys.executable, "-m", WORKER_MODULE]


def test_several_gpus_launch_the_worker_through_accelerate():
    from accelerate.commands.launch import launch_command_parser

    cmd = worker_command("/runs/r/jobs/trial-0003", 4, python="py")
    assert cmd[:3] == ["py", "-m", "accelerate.commands.launch"]
    # accelerate's own parser reads it as a 4-process multi-GPU launch of our module on the job directory
    args = launch_command_parser().parse_args(cmd[3:])
    assert args.multi_gpu and args.num_processes == 4 and args.num_machines == 1
    assert args.module and args.training_script == WORKER_MODULE
    assert args.training_script_args == ["/runs/r/jobs/trial-0003"]
    assert args.main_process_port == 0  # a free port each time: parallel multi-GPU trials do not collide


@pytest.mark.parametrize(("gpus", "processes"), [(0, 1), (0.5, 1), (1, 1), (2, 2), (8.0, 8)])
def test_processes_per_trial(gpus, processes):
    assert gpu_processes(gpus) == processes


def test_a_fraction_above_one_gpu_is_refused():
    with pytest.raises(LamdagentError, match=r"executor\.gpus_per_trial: 1\.5 .*whole"):
        gpu_processes(1.5)


def test_role_from_the_launcher_variables():
    assert process_role({}) == Role(0, 0, 1) and process_role({}).is_main and not process_role({}).distributed
    main = process_role({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2"})
    assert main.is_main and main.distributed
    other = process_role({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert not other.is_main and other.distributed and other.local_rank == 1
    with pytest.raises(LamdagentError, match="RANK"):
        process_role({"RANK": "two", "WORLD_SIZE": "2"})
    with pytest.raises(LamdagentError, match="WORLD_SIZE=2"):
        process_role({"RANK": "2", "WORLD_SIZE": "2"})


def _job(tmp_path: Path, spec: dict | None, model_id: str = "base", tasks: list | None = None, **kw) -> Job:
    job = Job(
        trial_id=1,
        job_dir=str(tmp_path / "job"),
        store_root=str(tmp_path / "models"),
        spec=spec,
        model_id=model_id,
        inputs=kw.pop("inputs", {}),
        tasks=tasks or [],
        eval={"batch_size": 8, "limit": None},
        **kw,
    )
    job.write()
    return job


def _spec(action: str, inputs: dict, params: dict) -> ActionSpec:
    import lamdagent.actions  # noqa: F401 - registers the action types
    from lamdagent.actions.base import ACTIONS

    full = ACTIONS.get(action).spec_params(params)
    return ActionSpec(action=action, inputs=inputs, params=full, fingerprints={})


def test_only_training_jobs_run_on_every_process(tmp_path):
    sft = _spec("sft", {"model": "base", "data": "d"}, {"max_steps": 1})
    assert trains_together(_job(tmp_path, sft.model_dump(mode="json"), sft.model_id()))
    merge = _spec("linear", {"models": ["base", "other"]}, {})
    merge_job = _job(tmp_path, merge.model_dump(mode="json"), merge.model_id())
    assert not trains_together(merge_job)
    assert not trains_together(_job(tmp_path, None))  # evaluation only
    # a model already in the store is reused by the main process; nobody trains
    done = tmp_path / "models" / sft.model_id()
    done.mkdir(parents=True)
    (done / "lamdagent.json").write_text(json.dumps({"complete": True}))
    assert not trains_together(_job(tmp_path, sft.model_dump(mode="json"), sft.model_id()))
    # a helper process with nothing to train returns at once and touches nothing
    assert run_helper(merge_job, Role(rank=1, local_rank=1, world_size=2)) == 0
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [sft.model_id()]


def _run_worker(job: Job, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    return subprocess.run(
        [sys.executable, "-m", WORKER_MODULE, job.job_dir],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_only_the_main_process_writes_the_result(tmp_path):
    job = _job(tmp_path, None, model_path=str(tmp_path))  # nothing to make and no task: the cheapest job
    helper = _run_worker(job, RANK="1", LOCAL_RANK="1", WORLD_SIZE="2")
    assert helper.returncode == 0, helper.stderr[-2000:]
    assert JobResult.read(job.job_dir) is None
    main = _run_worker(job, RANK="0", LOCAL_RANK="0", WORLD_SIZE="2")
    assert main.returncode == 0, main.stderr[-2000:]
    result = JobResult.read(job.job_dir)
    assert result is not None and result.ok and result.stats["worker"]["pid"] > 0


def test_local_executor_shares_gpus_by_slot():
    two_each = LocalExecutor(parallel=2, gpus=[0, 1, 2, 3], gpus_per_trial=2)
    assert two_each.processes == 2 and [two_each.slot_gpus(s) for s in (0, 1)] == [[0, 1], [2, 3]]
    halves = LocalExecutor(parallel=4, gpus=[0, 1], gpus_per_trial=0.5)
    assert [halves.slot_gpus(s) for s in range(4)] == [[0], [0], [1], [1]]
    auto = LocalExecutor(parallel=3, gpus=[0, 1], gpus_per_trial=0)
    assert [auto.slot_gpus(s) for s in range(3)] == [[0], [1], [0]]
    assert LocalExecutor(parallel=2, gpus=[]).slot_gpus(1) == []
    with pytest.raises(LamdagentError, match="need 6 GPUs but 4 are visible"):
        LocalExecutor(parallel=3, gpus=[0, 1, 2, 3], gpus_per_trial=2)


@pytest.mark.slow
def test_two_process_launch_trains_together_on_cpu(tiny_model_dir, tmp_path):
    """accelerate's launch runs on the CPU too (gloo): the real command line, both ranks, one result."""
    import torch

    from lamdagent.data.formats import materialise

    if torch.cuda.is_available():
        pytest.skip("a CPU check of the launch; GPU machines run the real thing")

    data = materialise("builtin:tool_use", "sft", tmp_path / "data", "tool_sft", size=8)
    spec = _spec("sft", {"model": "base", "data": "tool_sft"}, {"max_steps": 1, "batch_size": 4, "max_length": 256})
    base = ModelRef(id="base", path=str(tiny_model_dir), fingerprint="tiny")
    job = _job(
        tmp_path,
        spec.model_dump(mode="json"),
        spec.model_id(),
        tasks=[TASK],
        inputs={"model": base.model_dump(mode="json"), "data": data.model_dump(mode="json")},
    )
    executor = LocalExecutor(parallel=1, gpus=[0, 1], gpus_per_trial=2, timeout_s=600)
    t0 = time.time()
    result = executor.run(job)
    log = (Path(job.job_dir) / "worker.log").read_text()
    assert result.ok, (result.error, log[-3000:])
    models = [p.name for p in (tmp_path / "models").iterdir()]
    assert models == [spec.model_id()]  # one commit, no staging directory left by either process
    assert result.output_model == spec.model_id() and "tool_use" in result.metrics
    assert result.stats["steps"] == 1 and result.stats["worker"]["started_at"] >= t0 - 1
    # the second process trained alongside (a lone rank would hang in the first all-reduce), then left
    assert "lamdagent.worker[rank 1]: trained alongside the main process" in log
    assert "Traceback" not in log


def test_the_worker_never_sees_the_agents_key(tmp_path, monkeypatch):
    """The executor starts each worker with the driver's environment minus the agent's key variable (named by
    the config's `api_key_env`) and other credential-named variables; the Hugging Face token stays."""
    import subprocess

    from lamdagent.execution.executor import LocalExecutor

    seen: dict[str, str] = {}

    class Fake:
        def __init__(self, *args, env, **kw):
            seen.update(env)
            self.pid = 0

        def poll(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", Fake)
    monkeypatch.setenv("MY_AGENT_KEY", "k1")
    monkeypatch.setenv("OTHER_API_KEY", "k2")
    monkeypatch.setenv("HF_TOKEN", "hf")
    executor = LocalExecutor(parallel=1, gpus=[])
    executor.hidden_env = ("MY_AGENT_KEY",)
    executor.submit(_job(tmp_path, None, model_path=str(tmp_path)))
    assert "MY_AGENT_KEY" not in seen and "OTHER_API_KEY" not in seen and seen["HF_TOKEN"] == "hf"
