"""`lamdagent export`: the chosen model leaves the run as a loadable HF directory with a lineage card."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from helpers import sample_run

from lamdagent.errors import LamdagentError
from lamdagent.export import export_model
from lamdagent.models.card import EMBEDDED_CARD_NAME

sample = sample_run()


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample.build_sample_run(tmp_path_factory.mktemp("export") / "run", model_dir=tiny_model_dir)


def _front_matter(card: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", card, re.S)
    assert match, "card has no YAML front matter"
    return yaml.safe_load(match.group(1))


def test_export_best_loads_and_card_tells_lineage_pipeline_and_scores(run_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    ids = sample.model_ids()
    dest = export_model(run_dir, tmp_path / "best")
    model = AutoModelForCausalLM.from_pretrained(dest)
    assert model.config.num_hidden_layers == 2
    with torch.no_grad():
        out = model(torch.tensor([[1, 2, 3]]))
    assert out.logits.shape[-1] == model.config.vocab_size

    meta = json.loads((dest / "lamdagent.json").read_text())
    assert meta["model_id"] == ids["best"]
    card = (dest / "README.md").read_text()
    front = _front_matter(card)
    assert front["base_model"] == EMBEDDED_CARD_NAME  # the root base by its hub name
    assert front["base_model_relation"] == "finetune"
    # parents and ancestors by id, the base by its config name
    assert f"`{ids['ties']}`: ties in trial 4" in card
    assert ids["sft1"] in card and ids["sft2"] in card and sample.BASE_NAME in card
    doc = yaml.safe_load(re.search(r"```yaml\n(.*?)```", card, re.S).group(1))
    assert doc["base_models"] == [sample.BASE_NAME] and doc["policy"]["name"] == "fixed"
    steps = doc["policy"]["pipeline"]
    assert [s["action"] for s in steps] == ["sft", "sft", "ties", "sft"]
    assert steps[2]["inputs"] == {"models": ["$1", "$2"], "base": "base"}
    assert steps[3]["inputs"] == {"model": "$3", "data": "tool_use_sft"}
    # validation, test and base scores of the primary task, and the objective on both splits
    assert "| tool_use | accuracy | 0.4700 | 0.4500 | 0.2000 | 0.1800 |" in card
    assert "Objective: **0.4700** on validation, 0.4500 on test" in card


def test_export_named_trial(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()  # an existing empty directory is fine
    dest = export_model(run_dir, tmp_path / "empty", trial_id=2)
    meta = json.loads((dest / "lamdagent.json").read_text())
    assert meta["model_id"] == sample.model_ids()["sft2"]
    assert meta["spec"]["inputs"] == {"model": "base", "data": "instruction_sft"}
    assert not list(tmp_path.glob(".*partial*"))


def test_export_refuses_non_empty_dest(run_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(LamdagentError, match="not empty; give a new directory"):
        export_model(run_dir, dest)
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]


def test_export_failed_trial_and_missing_model_are_clear(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(LamdagentError, match="trial 3 is failed"):
        export_model(run_dir, tmp_path / "x", trial_id=3)
    ledger_only = sample.build_sample_run(tmp_path / "ledger-only")  # no model directories
    with pytest.raises(LamdagentError, match="missing or incomplete"):
        export_model(ledger_only, tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_model_answered_from_a_table_is_not_exported(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A benchmark-table run's models are markers with scores and no weights: export says so in one line."""
    run = sample.build_sample_run(tmp_path / "run", model_dir=tiny_model_dir)
    best = sample.model_ids()["best"]
    meta_path = run / "models" / best / "lamdagent.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "virtual": True}))
    with pytest.raises(LamdagentError, match="answered from a benchmark table and has no weights"):
        export_model(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()
