"""The lineage predictor on synthetic lineages whose true scores are known: cold starts, merges, intervals."""

from __future__ import annotations

import pytest

from lamdagent.errors import LamdagentError
from lamdagent.predict import LineagePredictor, Node, node_of, parent_baseline, table_lineage

N_ITEMS = 40
DIFFICULTY = [(i + 0.5) / N_ITEMS for i in range(N_ITEMS)]  # item i is right when the skill exceeds it
EFFECT = {"good": 0.2, "bad": -0.15}


def verdicts(skill: float) -> dict[str, list[float]]:
    return {"task": [1.0 if skill > d else 0.0 for d in DIFFICULTY]}


def score(skill: float) -> float:
    return sum(verdicts(skill)["task"]) / N_ITEMS


def sft(parent: str, data: str, id: str) -> Node:
    return node_of("sft", {"learning_rate": 1e-4}, [parent], [data], id)


def lineage() -> tuple[list[Node], dict[str, float]]:
    """A base, fine-tunes on a helpful and a harmful set at two depths, and linear merges; each model's skill."""
    skill = {"base": 0.3}
    nodes = [Node("base")]
    for first in ("good", "bad"):
        a = f"{first}"
        nodes.append(sft("base", first, a))
        skill[a] = skill["base"] + EFFECT[first]
        for second in ("good", "bad"):
            b = f"{first}-{second}"
            nodes.append(sft(a, second, b))
            skill[b] = skill[a] + EFFECT[second]
    for a, b, w in (("good", "bad", 0.5), ("good", "base", 0.3), ("bad-good", "good", 0.7), ("good-bad", "bad", 0.5)):
        mid = f"lin({a},{b},{w})"
        nodes.append(node_of("linear", {"weight": w}, [a, b], [], mid))
        skill[mid] = w * skill[a] + (1 - w) * skill[b]
    return nodes, skill


def fitted(hidden: set[str], **options) -> tuple[LineagePredictor, dict[str, float]]:
    nodes, skill = lineage()
    observed = [n.id for n in nodes if n.id not in hidden]
    predictor = LineagePredictor(seed=0, **options).fit(
        nodes, {m: verdicts(skill[m]) for m in observed}, {m: {"task": score(skill[m])} for m in observed}
    )
    return predictor, skill


def test_a_child_without_data_starts_from_what_its_parent_and_its_action_imply():
    predictor, skill = fitted({"good-good"})
    truth = score(skill["good-good"])  # 0.7: two helpful fine-tunes
    parent = score(skill["good"])  # 0.5
    predicted = predictor.predict("good-good")
    assert abs(predicted.scores["task"] - truth) < abs(parent - truth) - 0.05, predicted.text()
    assert predicted.low["task"] <= predicted.scores["task"] <= predicted.high["task"]

    # an action never seen before carries no learnt offset: the child is predicted near its parent (the
    # Laplacian pull alone)
    unseen = sft("good", "never-seen", "new")
    near = predictor.predict(unseen).scores["task"]
    assert near == pytest.approx(predictor.predict("good").scores["task"], abs=0.12)


def test_a_merge_without_data_is_predicted_between_its_inputs():
    predictor, skill = fitted({"lin(good,bad,0.5)"})
    got = predictor.predict("lin(good,bad,0.5)").scores["task"]
    low, high = sorted((score(skill["good"]), score(skill["bad"])))
    assert low - 0.05 <= got <= high + 0.05
    assert got == pytest.approx(score(skill["lin(good,bad,0.5)"]), abs=0.12)


def test_without_lineage_an_unseen_model_gets_the_items_average():
    predictor, skill = fitted({"good-good"}, use_lineage=False)
    observed = [m for m in skill if m != "good-good"]
    average = sum(score(skill[m]) for m in observed) / len(observed)
    assert predictor.predict("good-good").scores["task"] == pytest.approx(average, abs=0.08)


def test_observed_models_are_reproduced_and_baselines_read_the_inputs():
    predictor, skill = fitted(set())
    for m in ("base", "good", "bad-bad"):
        assert predictor.predict(m).scores["task"] == pytest.approx(score(skill[m]), abs=0.06)
    node = node_of("linear", {"weight": 0.3}, ["good", "base"], [], "x")
    scores = {"good": {"task": 0.5}, "base": {"task": 0.3}}
    assert parent_baseline(node, scores) == pytest.approx({"task": 0.3 * 0.5 + 0.7 * 0.3})
    assert parent_baseline(node, scores, weighted=False) == pytest.approx({"task": 0.4})
    assert parent_baseline(Node("y", (("z", 1.0),)), scores) is None
    with pytest.raises(LamdagentError, match="at least 2"):
        LineagePredictor().fit([Node("base")], {"base": verdicts(0.3)}, {})


def test_a_pipeline_table_becomes_a_lineage(tmp_path):
    from pipetable_helpers import fake_model_dir, space_config, write_synthetic_table

    from lamdagent.benchmarks.table import read_table

    path = tmp_path / "t.jsonl.gz"
    write_synthetic_table(path, space_config(fake_model_dir(tmp_path / "base")))
    table = read_table(path)
    nodes, verdicts_, scores = table_lineage(table)
    assert len(nodes) == len(table.rows) == len(verdicts_)
    by_id = {n.id: n for n in nodes}
    merges = [n for n in nodes if any(f == "action=linear" for f in n.features)]
    assert merges and all(sum(w for _, w in n.parents) == pytest.approx(1.0) for n in merges)
    trained = [n for n in nodes if "action=sft" in n.features]
    assert all("data=tool_sft" in n.features and len(n.parents) == 1 for n in trained)
    assert all(p in by_id for n in nodes for p, _ in n.parents)
    row = next(iter(table.rows.values()))
    assert scores[row.signature]["tool_use"] == row.scores["validation"]["tool_use"]["accuracy"]


def test_parse_action_reads_the_form_runs_print():
    from lamdagent.predict import parse_action

    assert parse_action("sft(model=m1, data=tool_sft; learning_rate=3e-4)") == (
        "sft",
        {"model": "m1", "data": "tool_sft"},
        {"learning_rate": 3e-4},
    )
    assert parse_action("ties(models=[m1, m2], base=base; density=0.5)")[1] == {"models": ["m1", "m2"], "base": "base"}
    for bad in ("sft", "sft(model)", "sft(a=1; b=2; c=3)"):
        with pytest.raises(LamdagentError, match="--action"):
            parse_action(bad)
