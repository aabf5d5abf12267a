"""End to end with real parts: the embedded LLM as the agent, replay at another data scale, `eval` and examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import tiny_config

from lamdagent.cli import main as cli_main
from lamdagent.config import RunConfig, load_config
from lamdagent.data.sets import materialise_datasets
from lamdagent.evaluation.tasks import build_task
from lamdagent.ledger import Ledger
from lamdagent.loop import Loop
from lamdagent.replay import replay, spearman

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 4 minutes on an idle 2-core machine, 12 under load
def test_embedded_llm_agent_makes_only_valid_choices(tiny_model_dir, tmp_path):
    """SmolLM2-135M-Instruct chooses (constrained, in-process) over a tiny action space on a tiny model."""
    cfg = RunConfig.model_validate(
        tiny_config(
            tiny_model_dir,
            policy={"name": "llm", "llm": {"backend": "local", "model": "smollm2-135m-instruct", "max_tokens": 128}},
            budget={"iterations": 3},
        )
    )
    loop = Loop.open(cfg, tmp_path / "run")
    summary = loop.run()
    trials = loop.ledger.trials()
    assert summary.trials == 3
    assert not any(t.fallback for t in trials), [t.rationale for t in trials]
    assert len({t.spec_hash for t in trials}) == 3  # never the same choice twice
    assert all(t.state == "finished" for t in trials), [t.error for t in trials]
    assert all(t.rationale for t in trials) and all(t.llm_tokens > 0 for t in trials)
    # every trial asked for a memory rewrite; a copy of the prompt is not stored, anything else is
    updates = loop.ledger.events("memory_update")
    assert [e["trial_id"] for e in updates] == [t.id for t in trials]
    assert all(e["payload"]["tokens"] > 0 for e in updates)
    versions = loop.ledger.memory_versions()
    assert len(versions) == sum(not e["payload"]["kept"] for e in updates)
    assert all(v["text"].strip() and "Rewrite your memory" not in v["text"] for v in versions)


def test_spearman_matches_hand_values():
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 1], [1, 2]) is None and spearman([1], [2]) is None


@pytest.mark.slow
def test_replay_at_another_data_scale_compares_real_scores(tiny_model_dir, tmp_path):
    cfg = RunConfig.model_validate(tiny_config(tiny_model_dir, budget={"iterations": 3}, data_scale=0.5))
    source = tmp_path / "small"
    Loop.open(cfg, source).run()
    result = replay(source, tmp_path / "full", top=3, data_scale=1.0)
    with Ledger(source) as old:
        old_scores = {t.output_model: t.score for t in old.trials("finished")}
    with Ledger(tmp_path / "full") as new:
        new_trials = new.trials("finished")
        new_scores = {t.output_model: t.score for t in new_trials}
        data_fp = {d for t in new_trials for k, d in t.spec.fingerprints.items() if k == "tool_sft"}
        assert new.get_meta("replay")["spearman"] == result.spearman
    assert len(result.rows) == 3
    for row in result.rows:
        assert row["old_score"] == old_scores[row["old_model"]]
        assert row["new_score"] == new_scores[row["new_model"]]
    # the full-scale data differ from the half-scale data, so the models differ too
    assert all(r["new_model"] != r["old_model"] for r in result.rows if "tool_sft" in r["pipeline"])
    assert data_fp
    pairs = [(r["old_score"], r["new_score"]) for r in result.rows if r["new_score"] is not None]
    assert result.spearman == spearman([a for a, _ in pairs], [b for _, b in pairs])


def test_eval_cli_prints_json_per_task(tiny_model_dir, capsys):
    code = cli_main(["eval", str(tiny_model_dir), "--tasks", "tool_use", "math", "--limit", "2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["tasks"]) == {"tool_use", "math"}
    assert 0.0 <= out["tasks"]["tool_use"]["accuracy"] <= 1.0
    assert "exact_match_flexible" in out["tasks"]["math"]


def test_eval_cli_missing_model_is_one_line(tmp_path, capsys):
    assert cli_main(["eval", str(tmp_path / "nope"), "--tasks", "tool_use"]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope" in err and len(err.splitlines()) == 1


def test_real_benchmarks_example_loads_its_data_and_tasks(benchmarks_dir, tmp_path):
    cfg = load_config(REPO / "examples" / "real-benchmarks.yaml", {"data_dir": str(benchmarks_dir)})
    refs = materialise_datasets(cfg.datasets, tmp_path, cfg.seed, cfg.data_scale, cfg.data_dir)
    assert {r.id: r.rows for r in refs.values()} == {
        "gsm8k_sft": 128,
        "glaive_sft": 128,
        "alpaca_sft": 128,
        "mixed_sft": 384,
    }
    for task in cfg.tasks:
        built = build_task(task.name, task.source, {"data_dir": cfg.data_dir, **task.options})
        assert built.items("validation") and built.items("test")
