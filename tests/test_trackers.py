"""Tracker export: MLflow against a local file store; the other trackers' call shapes and install hints."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import sample_run

from lamdagent.errors import LamdagentError
from lamdagent.trackers import export_trials

sample = sample_run()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return sample.build_sample_run(tmp_path / "run")


def test_mlflow_file_store_gets_one_run_per_trial(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow", reason="pip install mlflow (the `trackers` extra)")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    uri = (tmp_path / "mlruns").as_uri()
    assert export_trials(run_dir, "mlflow", tracking_uri=uri, experiment="demo") == 7  # 6 finished + 1 failed
    assert export_trials(run_dir, "mlflow", tracking_uri=uri, experiment="demo") == 0  # nothing new to add

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("demo").experiment_id])
    by_trial = {int(r.data.tags["lamdagent.trial_id"]): r for r in runs}
    assert sorted(by_trial) == [1, 2, 3, 4, 5, 6, 7]

    ids = sample.model_ids()
    ties = by_trial[4].data
    assert ties.params["action"] == "ties" and ties.params["param.density"] == "0.7"
    assert ties.params["input.models"] == f"{ids['sft1']},{ids['sft2']}"
    assert ties.metrics["val/tool_use/accuracy"] == pytest.approx(0.41)
    assert ties.metrics["test/instruction_following/accuracy"] == pytest.approx(0.57)
    assert ties.metrics["val/score"] == pytest.approx(0.41)
    assert ties.tags["lamdagent.parents"] == f"{ids['sft1']},{ids['sft2']},base"
    assert ties.tags["lamdagent.output_model"] == ids["ties"]
    assert len(ties.tags["lamdagent.spec_hash"]) == 16

    failed = by_trial[3]
    assert failed.info.status == "FAILED"
    assert "DPO diverged" in failed.data.tags["lamdagent.error"]
    assert not any(k.startswith("val/") for k in failed.data.metrics)
    assert by_trial[6].data.tags["lamdagent.cached"] == "true"
    assert by_trial[7].data.metrics["val/score"] < -1  # infeasible: breaks the instruction-following bound


class _Recorder:
    """Stands in for a tracker package: records the calls of the documented init/log/finish API."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def init(self, **kwargs: Any) -> Any:
        self.calls.append(("init", kwargs))
        return SimpleNamespace(log=self.log, finish=lambda **kw: self.calls.append(("finish", kw)))

    def log(self, metrics: dict[str, float]) -> None:
        self.calls.append(("log", metrics))

    def finish(self) -> None:
        self.calls.append(("finish", {}))


@pytest.mark.parametrize("tracker", ["trackio", "wandb"])
def test_other_trackers_get_config_and_metrics(tracker: str, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    monkeypatch.setitem(sys.modules, tracker, recorder)  # type: ignore[arg-type]
    assert export_trials(run_dir, tracker, project="p") == 7
    inits = [kw for name, kw in recorder.calls if name == "init"]
    logs = [m for name, m in recorder.calls if name == "log"]
    assert len(inits) == len(logs) == 7 and [n for n, _ in recorder.calls].count("finish") == 7
    assert inits[0]["project"] == "p" and inits[0]["name"] == "trial-1-sft"
    assert inits[3]["config"]["lamdagent.parents"].endswith(",base")
    assert logs[0]["val/tool_use/accuracy"] == pytest.approx(0.35)


def test_missing_tracker_says_how_to_install(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` fail
    with pytest.raises(LamdagentError, match="pip install wandb"):
        export_trials(run_dir, "wandb")


def test_bad_tracker_or_option_is_one_line(run_dir: Path) -> None:
    with pytest.raises(LamdagentError, match="choose one of mlflow, trackio, wandb"):
        export_trials(run_dir, "tensorboard")
    with pytest.raises(LamdagentError, match="unknown option 'uri'; it takes tracking_uri, experiment"):
        export_trials(run_dir, "mlflow", uri="x")


def test_mlflow_bad_uri_is_one_line(run_dir: Path) -> None:
    pytest.importorskip("mlflow", reason="pip install mlflow (the `trackers` extra)")
    with pytest.raises(LamdagentError, match=r"^mlflow tracking_uri 'bogus://x': [^\n]*bogus") as err:
        export_trials(run_dir, "mlflow", tracking_uri="bogus://x")
    assert "\n" not in str(err.value)
