"""A small real run directory, written through the same Ledger and ModelStore calls the loop makes.

Shared by the report, export and tracker tests; tests outside this directory import it by file path.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import lamdagent.actions  # noqa: F401 - registers the action types
from lamdagent.actions.base import ACTIONS
from lamdagent.config import RunConfig, default_config
from lamdagent.evaluation.objective import Constraint, Objective
from lamdagent.ledger import Ledger
from lamdagent.models.embedded import EMBEDDED_NAME
from lamdagent.models.store import ModelStore
from lamdagent.spec import ActionSpec, ModelRef

BASE_NAME = EMBEDDED_NAME


def _config() -> dict[str, Any]:
    """The demo config with DPO and TIES added, which the sample run uses; tool use alone is weighted
    (instruction following only bounded), so a sample model's objective is its tool-use score."""
    cfg = default_config().model_dump(mode="json")
    for task in cfg["tasks"]:
        task["weight"] = 1.0 if task["name"] == "tool_use" else 0.0
    cfg["actions"] = [*cfg["actions"], "dpo", "ties"]
    cfg["datasets"].append({"name": "tool_use_pref", "kind": "preference", "source": "builtin:tool_use", "size": 16})
    return RunConfig.model_validate(cfg).model_dump(mode="json")


CONFIG: dict[str, Any] = _config()
PRIMARY = {"tool_use": "accuracy", "instruction_following": "accuracy"}
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'


def metrics(tool: float, inst: float) -> dict[str, dict[str, float]]:
    return {
        "tool_use": {"accuracy": tool, "name_accuracy": min(1.0, tool + 0.2)},
        "instruction_following": {"accuracy": inst, "strict_prompt": max(0.0, inst - 0.1)},
    }


BASE_VAL, BASE_TEST = metrics(0.20, 0.55), metrics(0.18, 0.54)
OBJECTIVE = Objective(
    {t["name"]: t["weight"] for t in CONFIG["tasks"]},
    [Constraint(task=c["task"], min_delta=c["min_delta"]) for c in CONFIG["constraints"]],
    PRIMARY,
)


def spec(action: str, inputs: dict[str, Any], **params: Any) -> ActionSpec:
    """A spec as the pool builds it: every parameter filled in, defaults included."""
    full = ACTIONS.get(action).spec_params({**CONFIG["params"].get(action, {}), **params})
    return ActionSpec(action=action, inputs=inputs, params=full)


# (iteration, spec, outcome, rationale): outcome is validation (tool_use, instruction_following) or an error
def _plan() -> list[tuple[int, ActionSpec, Any, str]]:
    sft1 = spec("sft", {"model": "base", "data": "tool_use_sft"}, learning_rate=5e-5, num_epochs=1)
    sft2 = spec("sft", {"model": "base", "data": "instruction_sft"}, learning_rate=2e-4, num_epochs=2)
    m1, m2 = sft1.model_id(), sft2.model_id()
    dpo = spec("dpo", {"model": m1, "data": "tool_use_pref"})
    ties = spec("ties", {"models": [m1, m2], "base": "base"}, density=0.7)
    sft3 = spec("sft", {"model": ties.model_id(), "data": "tool_use_sft"}, learning_rate=5e-5, num_epochs=1)
    linear = spec("linear", {"models": [sft3.model_id(), m2]}, weight=0.5)
    return [
        (1, sft1, (0.35, 0.56), "Start with tool-use SFT: the base scores low on calls."),
        (2, sft2, (0.22, 0.60), "Explore: instruction data may help & keep the constraint."),
        (3, dpo, "RuntimeError: DPO diverged (loss is nan) " + HOSTILE, "Try DPO " + HOSTILE),
        (4, ties, (0.41, 0.58), "Merge the two SFT models with TIES."),
        (5, sft3, (0.47, 0.57), "Fine-tune the merge further on tool use."),
        (6, sft1, (0.35, 0.56), "Repeat the first SFT (should be a cache hit)."),
        (7, linear, (0.44, 0.50), "Blend the best with the instruction model."),  # breaks the constraint
    ]


def build_sample_run(run_dir: Path, model_dir: Path | None = None) -> Path:
    """Write the ledger of a 7-trial run (5 models, 1 failure, 1 cache hit, merges); with `model_dir`, also
    real model directories (copies of it) in `RUN/models` as the executor would commit them."""
    ledger = Ledger(run_dir)
    base_path = str(model_dir or run_dir / "base")
    ledger.set_meta("config", CONFIG)
    ledger.set_meta("base_models", [{"id": "base", "name": BASE_NAME, "path": base_path}])
    ledger.set_meta("primary_metrics", PRIMARY)
    ledger.set_meta(
        "base",
        {"base": {"metrics": BASE_VAL, "test_metrics": BASE_TEST, "score": OBJECTIVE.score(BASE_VAL, BASE_VAL).score}},
    )
    ledger.add_memory("No trials yet. Explore SFT on each dataset first.")
    store = ModelStore(run_dir / "models") if model_dir else None
    refs = {"base": ModelRef(id="base", path=base_path, fingerprint="base", name=BASE_NAME)}
    for iteration, action, outcome, rationale in _plan():
        trial = ledger.start_trial(action, iteration, rationale=rationale, fallback=iteration == 3, llm_tokens=120)
        if isinstance(outcome, str):
            ledger.fail_trial(trial, outcome, timings={"load_s": 0.4})
            continue
        val, test = metrics(*outcome), metrics(outcome[0] - 0.02, outcome[1] - 0.01)
        score = OBJECTIVE.score(val, reference=BASE_VAL).score
        model_id = action.model_id()
        cached = model_id in refs
        if store is not None and not cached:
            assert model_dir is not None
            staging = store.staging_dir(model_id)
            shutil.copytree(model_dir, staging, dirs_exist_ok=True)
            ids = list(action.input_ids())
            parents = [refs[i] for i in dict.fromkeys(ids) if i in refs]
            relation = ACTIONS.get(action.action).relation
            store.commit(model_id, staging, action, parents, relation)
            store.set_scores(model_id, val, test, score)
        refs[model_id] = ModelRef(id=model_id, path=str(run_dir / "models" / model_id), fingerprint=action.spec_hash())
        ledger.finish_trial(
            trial,
            model_id,
            val,
            test,
            score,
            timings={"train_s": 3.0, "eval_s": 2.0},
            cached=cached,
        )
        if iteration in (2, 5):
            ledger.add_memory(
                f"After iteration {iteration}: SFT on tool_use_sft helps tool use.\n"
                + ("TIES merge of both SFT models is best so far; refine it." if iteration == 5 else "Try merges.")
                + "\nNever use <script> tags.",
                trial_id=trial,
            )
    ledger.close()
    return run_dir


def model_ids() -> dict[str, str]:
    """The ids the plan produces, by role: sft1, sft2, ties, sft3 (the best), linear."""
    plan = _plan()
    return {
        "sft1": plan[0][1].model_id(),
        "sft2": plan[1][1].model_id(),
        "ties": plan[3][1].model_id(),
        "best": plan[4][1].model_id(),
        "linear": plan[6][1].model_id(),
    }
