"""One rule for a card's `base_model_relation`, shared by the store's cards and the exported card."""

from __future__ import annotations

import yaml

from lamdagent.actions import ACTIONS
from lamdagent.models.card import base_model_relation, front_matter


def _front(text: str) -> dict:
    assert text.startswith("---\n") and text.endswith("\n---")
    return yaml.safe_load(text[4:-4])


def test_a_merge_of_several_models_is_a_merge() -> None:
    assert base_model_relation(["org/a", "org/b"], merged=True) == "merge"
    front = _front(front_matter(["org/a", "org/b"], merged=True, tags=["ties"]))
    assert front == {
        "base_model": ["org/a", "org/b"],
        "base_model_relation": "merge",
        "library_name": "transformers",
        "tags": ["lamdagent", "ties"],
    }


def test_one_base_model_is_a_finetune_whatever_made_it() -> None:
    assert base_model_relation(["org/a"], merged=False) == "finetune"
    # two fine-tunes of one base merged, listed by that base: one base model, so a fine-tune of it
    assert base_model_relation(["org/a", "org/a"], merged=True) == "finetune"
    assert _front(front_matter(["org/a", "org/a"], merged=True))["base_model"] == "org/a"
    # training two models' outputs is not a merge (no action but a merge combines weights)
    assert base_model_relation(["org/a", "org/b"], merged=False) == "finetune"


def test_every_action_declares_the_relation_the_rule_expects() -> None:
    # the built-in types only: other tests register fake ones in the same registry
    relations = {
        n: ACTIONS.get(n).relation for n in ACTIONS.names() if ACTIONS.get(n).__module__.startswith("lamdagent.")
    }
    # SFT and DPO, LoRA or not, end as full weights (the adapter is merged back): a fine-tune, never an adapter
    assert relations["sft"] == relations["dpo"] == "finetune"
    assert {r for n, r in relations.items() if n not in ("sft", "dpo")} == {"merge"}
