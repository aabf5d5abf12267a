"""`lamdagent export DIR DEST`: copy the best (or a named) trial's model out of a run, with a model card.

The exported directory stands alone: `AutoModelForCausalLM.from_pretrained(DEST)` loads it, and its card
tells where it came from (parents, base model names) and how to rebuild it (the pipeline as YAML that the
`fixed` policy replays), so the run directory can be deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.ledger import TrialRecord
from lamdagent.models.card import CARD_FILE, card_name, front_matter
from lamdagent.models.store import ModelStore
from lamdagent.runinfo import BaseModelInfo, RunInfo, finite, load_run
from lamdagent.spec import ModelRef


def _base_card_name(base: BaseModelInfo) -> str:
    return card_name(ModelRef(id=base.id, path=base.path, fingerprint="", name=base.name))


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if finite(value) else "–"


def _pick(run: RunInfo, trial_id: int | None) -> TrialRecord:
    if trial_id is None:
        best = run.best_trial()
        if best is None:
            raise LamdagentError(
                f"{run.run_dir}: no trial has finished with a score yet; wait for one or pass --trial ID"
            )
        return best
    trial = run.trial(trial_id)
    if trial.state != "finished" or not trial.output_model:
        raise LamdagentError(
            f"trial {trial_id} is {trial.state} and has no model; pick a finished trial (`lamdagent status DIR`)"
        )
    return trial


def render_export_card(run: RunInfo, trial: TrialRecord) -> str:
    """The exported model's README.md: front matter for the Hub, scores, lineage and the replayable pipeline."""
    model_id = str(trial.output_model)
    roots = run.root_bases(model_id)
    nodes = run.nodes()
    merged = any(len(nodes[m].parents) > 1 for m in run.lineage(model_id))  # some step combined models
    tags = sorted({s.action for s in run.pipeline(model_id)})
    base = roots[0] if roots else None
    lines = [
        front_matter([_base_card_name(b) for b in roots], merged, tags),
        "",
        f"# {model_id}",
        "",
        f"Built by [lamdagent](https://arxiv.org/abs/2505.21963) in trial {trial.id} (iteration {trial.iteration}) "
        f"of the run `{run.run_dir.name}`, with the objective: {run.objective_text()}.",
        "",
        "## Scores",
        "",
        f"Objective: **{_fmt(trial.score)}** on validation, {_fmt(run.test_score(trial.test_metrics))} on test"
        + (
            f" (base model {base.name}: {_fmt(base.score)} and {_fmt(run.test_score(base.test_metrics))})"
            if base
            else ""
        )
        + ".",
        "",
        "| task | metric | validation | test | base validation | base test |",
        "|---|---|---|---|---|---|",
    ]
    for task in run.task_names():
        val, test = trial.metrics.get(task) or {}, trial.test_metrics.get(task) or {}
        bval = (base.metrics.get(task) or {}) if base else {}
        btest = (base.test_metrics.get(task) or {}) if base else {}
        for metric in dict.fromkeys([*val, *test]):
            lines.append(
                f"| {task} | {metric} | {_fmt(val.get(metric))} | {_fmt(test.get(metric))} "
                f"| {_fmt(bval.get(metric))} | {_fmt(btest.get(metric))} |"
            )

    def describe(m: str) -> str:
        if m in run.bases:
            b = run.bases[m]
            shown = _base_card_name(b)
            return f"`{m}`: base model {b.name}" + (f" ({shown})" if shown != b.name else "")
        t = nodes[m].trial
        assert t is not None
        return f"`{m}`: {t.action} in trial {t.id}, validation score {_fmt(t.score)}"

    lines += ["", "## Lineage", "", "Parents:", ""]
    lines += [f"- {describe(p)}" for p in nodes[model_id].parents]
    lines += ["", "All ancestors, in build order:", ""]
    lines += [f"{k}. {describe(m)}" for k, m in enumerate(run.lineage(model_id)[:-1], start=1)]
    lines += [
        "",
        "## Pipeline",
        "",
        "Add this to a run config to rebuild the model with the `fixed` policy (`$k` is the model made by step k):",
        "",
        "```yaml",
        run.pipeline_yaml(model_id).rstrip(),
        "```",
        "",
        f"Spec hash of the last step: `{trial.spec_hash}`.",
        "",
    ]
    return "\n".join(lines)


def _is_virtual(model_dir: Path) -> bool:
    """Whether a model directory is a table executor's marker (scores, no weights)."""
    try:
        return bool(json.loads((model_dir / "lamdagent.json").read_text()).get("virtual"))
    except (OSError, ValueError, AttributeError):
        return False


def export_model(run_dir: str | Path, dest: str | Path, trial_id: int | None = None) -> Path:
    """Copy the chosen model to `dest` (which must be new or empty) and write its card; returns `dest`."""
    run = load_run(run_dir)
    trial = _pick(run, trial_id)
    dest = Path(dest).expanduser()
    target, run_root = dest.resolve(), run.run_dir.resolve()
    if target == run_root or run_root in target.parents:
        raise LamdagentError(f"{dest} is inside the run directory {run.run_dir}; export to a new directory outside it")
    if target == Path.cwd().resolve():
        raise LamdagentError(f"{dest} is the current directory; export to a new directory, e.g. ./best-model")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise LamdagentError(f"{dest} already exists and is not empty; give a new directory or remove it first")
    model_id = str(trial.output_model)
    if not (run.models_dir / model_id).is_dir() or not ModelStore(run.models_dir).is_complete(model_id):
        raise LamdagentError(
            f"{run.models_dir / model_id}: the model of trial {trial.id} is missing or incomplete; "
            "rebuild it with `lamdagent replay` or export another trial with --trial ID"
        )
    src = ModelStore(run.models_dir).path(model_id)
    if _is_virtual(src):
        raise LamdagentError(
            f"{src}: trial {trial.id} was answered from a benchmark table and has no weights; "
            "train its pipeline for real with `lamdagent replay` first"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")  # resolved: "." has no name
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(src, staging, ignore=shutil.ignore_patterns(CARD_FILE, ".*"))
        (staging / CARD_FILE).write_text(render_export_card(run, trial), encoding="utf-8")
        if target.exists():
            target.rmdir()  # empty, checked above
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
