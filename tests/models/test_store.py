"""The model store: atomic commits, model cards, scores, and cleaning up after crashes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lamdagent.errors import LamdagentError
from lamdagent.models import store as store_mod
from lamdagent.models.card import EMBEDDED_CARD_NAME
from lamdagent.models.store import ModelStore
from lamdagent.spec import ActionSpec, ModelRef

BASE = ModelRef(id="base", path="/nonexistent/base", fingerprint="fp0", name="smollm2-135m-instruct")
HUB = ModelRef(id="base2", path="/nonexistent/b2", fingerprint="fp1", name="Qwen/Qwen2.5-0.5B-Instruct")
CHILD = ModelRef(id="m0123456789a", path="/nonexistent/m", fingerprint="fp2", parents=("base",), action="sft")


def sft_spec() -> ActionSpec:
    return ActionSpec(action="sft", inputs={"model": "base", "data": "d1"}, params={"learning_rate": 1e-4})


def ties_spec() -> ActionSpec:
    return ActionSpec(
        action="ties", inputs={"models": ["m0123456789a", "base2"], "base": "base"}, params={"density": 0.5}
    )


def write_fake_model(path: Path) -> Path:
    """The files a saved HF model has; the contents do not matter to the store."""
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, path / "model.safetensors")
    for name in ("config.json", "tokenizer_config.json", "tokenizer.json"):
        (path / name).write_text("{}", encoding="utf-8")
    return path


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def commit(store: ModelStore, spec: ActionSpec, parents: list[ModelRef], relation: str) -> Path:
    mid = spec.model_id()
    return store.commit(mid, write_fake_model(store.staging_dir(mid)), spec, parents, relation)


def test_commit_publishes_a_complete_dir_with_metadata(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    spec = sft_spec()
    mid = spec.model_id()
    staging = write_fake_model(store.staging_dir(mid))
    assert staging.parent == store.root and staging.name.startswith(".staging-")
    assert not store.is_complete(mid)
    final = store.commit(mid, staging, spec, [BASE], "finetune", extra={"timings": {"train_s": 1.5}})
    assert final == store.path(mid) and store.is_complete(mid) and not staging.exists()
    meta = store.read_meta(mid)
    assert meta["complete"] is True and meta["scores"] is None
    assert meta["spec"] == spec.model_dump(mode="json") and meta["spec_hash"] == spec.spec_hash()
    assert meta["parents"] == ["base"] and meta["parent_names"] == [EMBEDDED_CARD_NAME]
    assert meta["relation"] == "finetune" and meta["timings"] == {"train_s": 1.5}
    card = (final / "README.md").read_text(encoding="utf-8")
    assert front_matter(card) == {
        "base_model": EMBEDDED_CARD_NAME,
        "base_model_relation": "finetune",
        "library_name": "transformers",
        "tags": ["lamdagent"],
    }
    assert "`learning_rate`" in card and "Not evaluated yet." in card


def test_merge_card_lists_every_parent(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    final = commit(store, ties_spec(), [CHILD, HUB, BASE], "merge")
    front = front_matter((final / "README.md").read_text(encoding="utf-8"))
    assert front["base_model"] == ["m0123456789a", "Qwen/Qwen2.5-0.5B-Instruct", EMBEDDED_CARD_NAME]
    assert front["base_model_relation"] == "merge"


def test_a_crash_before_the_rename_leaves_nothing_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ModelStore(tmp_path)
    spec = sft_spec()
    mid = spec.model_id()
    staging = write_fake_model(store.staging_dir(mid))

    def crash(path: Path) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(store_mod, "_fsync_tree", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.commit(mid, staging, spec, [BASE], "finetune")
    assert not store.is_complete(mid) and not store.path(mid).exists()
    assert (staging / "lamdagent.json").exists()  # the marker lives in staging, never in the final name
    assert not store.is_complete(staging.name)


def test_commit_refuses_a_dir_without_weights_or_tokenizer(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    spec = sft_spec()
    staging = store.staging_dir(spec.model_id())
    (staging / "config.json").write_text("{}")
    with pytest.raises(LamdagentError, match=r"no \*\.safetensors, tokenizer files"):
        store.commit(spec.model_id(), staging, spec, [BASE], "finetune")
    assert not store.path(spec.model_id()).exists()


def test_commit_of_a_finished_spec_discards_the_new_copy(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    spec = sft_spec()
    first = commit(store, spec, [BASE], "finetune")
    created = store.read_meta(spec.model_id())["created_at"]
    (first / "marker").write_text("first")
    again = commit(store, spec, [BASE], "finetune")
    assert again == first and (first / "marker").exists()
    assert store.read_meta(spec.model_id())["created_at"] == created
    assert [p.name for p in tmp_path.iterdir()] == [spec.model_id()]


def test_commit_rejects_an_id_that_is_not_the_specs(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    staging = write_fake_model(store.staging_dir("mwrong"))
    with pytest.raises(ValueError, match="does not match"):
        store.commit("mwrong", staging, sft_spec(), [BASE], "finetune")


def test_set_scores_round_trips_into_meta_and_card(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    spec = ties_spec()
    final = commit(store, spec, [CHILD, HUB, BASE], "merge")
    store.set_scores(spec.model_id(), {"toolcall": 0.75, "ifeval": 0.5}, {"toolcall": 0.7}, 0.625)
    meta = store.read_meta(spec.model_id())
    assert meta["scores"] == {
        "validation": {"toolcall": 0.75, "ifeval": 0.5},
        "test": {"toolcall": 0.7},
        "score": 0.625,
    }
    assert meta["complete"] is True and meta["parents"] == ["m0123456789a", "base2", "base"]
    card = (final / "README.md").read_text(encoding="utf-8")
    assert (
        "**0.6250**" in card and "| validation | toolcall | 0.7500 |" in card and "| test | toolcall | 0.7000 |" in card
    )
    assert front_matter(card)["base_model_relation"] == "merge"
    assert sorted(p.name for p in final.iterdir()) == sorted(
        ["README.md", "lamdagent.json", "model.safetensors", "config.json", "tokenizer_config.json", "tokenizer.json"]
    )


def test_clean_partial_removes_dead_staging_dirs_and_nothing_else(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    done = commit(store, sft_spec(), [BASE], "finetune")
    live = store.staging_dir("mlive")  # this process is alive
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    dead = tmp_path / f".staging-mdead-{dead_pid}-abcd1234"
    dead.mkdir()
    half = tmp_path / "mhalf"
    half.mkdir()
    (half / "lamdagent.json").write_text(json.dumps({"complete": False}))
    broken = tmp_path / "mbroken"
    broken.mkdir()
    (broken / "lamdagent.json").write_text("{trunc")
    theirs = tmp_path / "their_model"  # a user's folder: not ours to judge, let alone delete
    theirs.mkdir()
    (theirs / "weights.bin").write_bytes(b"precious")
    lookalike = tmp_path / f".staging-mx-{dead_pid}-notours"  # our prefix, but not a name staging_dir makes
    lookalike.mkdir()
    removed = store.clean_partial()
    assert removed == [dead]
    assert done.exists() and live.exists() and store.is_complete(done.name)
    assert half.is_dir() and broken.is_dir() and lookalike.is_dir()
    assert (theirs / "weights.bin").read_bytes() == b"precious"


def test_commit_never_deletes_a_folder_it_did_not_write(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    spec = sft_spec()
    theirs = store.path(spec.model_id())
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    staging = write_fake_model(store.staging_dir(spec.model_id()))
    with pytest.raises(LamdagentError, match="exists but is not a complete lamdagent model; move it out"):
        store.commit(spec.model_id(), staging, spec, [BASE], "finetune")
    assert (theirs / "notes.txt").read_text() == "mine"


def test_read_meta_of_an_unknown_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(LamdagentError, match="'mnope' is not in the store"):
        ModelStore(tmp_path).read_meta("mnope")
