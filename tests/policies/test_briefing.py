"""What the agent reads: short aliases, per-task changes with intervals, merge mixes, broken constraints."""

from __future__ import annotations

import pytest
from policy_helpers import MERGE, TRAIN, failed, finished, make_pool, make_view

from lamdagent.policies.briefing import Briefing


def _brief():
    pool = make_pool()
    cands = pool.candidates()
    sft = cands.build_spec(TRAIN, {"model": "base", "data": "tool_sft", "learning_rate": 1e-4})
    t1 = finished(pool, 1, sft, 0.5)
    t1.timings["wall_s"] = 120.0
    m1 = sft.model_id()
    cands = pool.candidates()
    merge = cands.build_spec(MERGE, {"models": [m1, "base"], "weight": 0.3})
    t2 = finished(pool, 2, merge, 0.3)
    m2 = merge.model_id()
    again = pool.candidates().build_spec(MERGE, {"models": [m2, m1], "weight": 0.7})
    t3 = finished(pool, 3, again, 0.4)
    bad = pool.candidates().build_spec(TRAIN, {"model": m1, "data": "if_sft", "learning_rate": 1e-5})
    view = make_view(pool, history=[t1, t2, t3, failed(4, bad)])
    view.items = {"tool_use": 20}
    view.violations = {m2: ["instruction_following.acc = 0.1 < base - 0.01 = 0.29"]}
    view.budget = "iterations 2"
    return Briefing(view, history_limit=10), m1, m2, again.model_id()


def test_aliases_follow_the_pool_order_and_resolve_back():
    brief, m1, m2, m3 = _brief()
    assert [brief.name(m) for m in ("base", m1, m2, m3)] == ["M0", "M1", "M2", "M3"]
    assert brief.resolve("m2") == m2 and brief.resolve(" M3 ") == m3 and brief.resolve(["M1", "M0"]) == [m1, "base"]
    assert brief.resolve("M9") == "M9" and brief.resolve(0.3) == 0.3  # unknown aliases stay as given


def test_a_chain_of_linear_merges_is_shown_as_the_mix_it_amounts_to():
    brief, m1, m2, m3 = _brief()
    assert brief.mix(m2) == pytest.approx({m1: 0.3, "base": 0.7})
    # 0.7 * (0.3 M1 + 0.7 M0) + 0.3 * M1 = 0.51 M1 + 0.49 M0
    assert brief.mix(m3) == pytest.approx({m1: 0.51, "base": 0.49})
    assert brief.origin(m3).endswith("≈ 0.51·M1 + 0.49·M0")
    assert brief.origin(m1) == "pt_train(model=M0, data=tool_sft; learning_rate=0.0001); made in 120 s"


def test_per_task_changes_intervals_and_broken_constraints_in_words():
    brief, m1, m2, _ = _brief()
    line = brief.task_line(m1)
    assert line == "tool_use 0.500 [0.30-0.70, n=20] (+0.300 vs M0) | objective 0.500"
    line = brief.task_line(m2)
    assert "(-0.200 vs M1, +0.100 vs M0)" in line
    assert line.endswith("| breaks the constraint instruction_following.acc = 0.1 < base - 0.01 = 0.29")
    trial = next(t for t in brief.view.history if t.output_model == m2)
    assert brief.trial(trial).endswith(
        "-> M2, breaks the constraint instruction_following.acc = 0.1 < base - 0.01 = 0.29"
    )
    assert "objective" not in brief.trial(trial)


def test_the_tries_table_counts_failures_best_change_and_cost():
    brief, *_ = _brief()
    rows = brief.tries().splitlines()
    assert rows[0] == "- pt_train: 2 tried, 1 failed, best change over its best input +0.300, 120 s each on average"
    assert rows[1] == "- pt_pref: not tried yet"
    assert rows[2] == "- pt_merge: 2 tried, best change over its best input -0.100"
    assert "tool_sft (sft, 40 rows)" in brief.settings() and brief.budget() == "iterations 2"
