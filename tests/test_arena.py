"""The arena: real loops under the table executor, summarised per policy with intervals over seeds."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from pipetable_helpers import fake_model_dir, space_config, write_synthetic_table

from lamdagent.arena import interval, run_arena
from lamdagent.cli import main
from lamdagent.errors import LamdagentError

POLICIES = ["random", "greedy", "tpe"]


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    cfg = space_config(
        fake_model_dir(tmp_path / "base-model"),
        policy={"name": "fixed", "pipeline": [{"action": "sft", "inputs": {"model": "base", "data": "tool_sft"}}]},
    )
    path = tmp_path / "table.jsonl.gz"
    write_synthetic_table(path, cfg)
    return path


def test_the_cli_runs_every_policy_and_seed_and_writes_json_and_a_plot(table, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["arena", str(table), "--policies", ",".join(POLICIES), "--seeds", "2", "--budget", "4"]
    assert main([*argv, "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads((out / "arena.json").read_text())["runs"] == result["runs"]
    assert (out / "arena.png").is_file()
    assert result["budget"] == 4 and result["seeds"] == 2 and result["checkpoints"] == [4]
    assert set(result["policies"]) == set(POLICIES) and len(result["runs"]) == 6
    assert result["table_best"]["validation"] is not None
    for name, summary in result["policies"].items():
        assert summary["seeds"] == 2
        for key in ("shipped_test", "regret", "test_regret", "duplicate_or_noop_fraction", "agent_seconds"):
            entry = summary[key]
            assert set(entry) == {"mean", "low", "high", "n"}, (name, key)
            assert entry["low"] <= entry["mean"] <= entry["high"]
        assert set(summary["best_so_far"]) == {"4"}
        curve = summary["curve_trials"]
        assert curve["trials"] == [0, 1, 2, 3, 4] and len(curve["mean"]) == 5
        assert all(a <= b + 1e-12 for a, b in zip(curve["mean"], curve["mean"][1:], strict=False))
        assert len(summary["curve_seconds"]["seconds"]) == len(summary["curve_seconds"]["mean"])
    for run in result["runs"]:
        best = run["best_so_far"]
        assert len(best) == run["trials"] + 1 == 5
        assert all(a <= b for a, b in zip(best, best[1:], strict=False)), run  # best so far never drops
        assert run["end_seconds"] == sorted(run["end_seconds"]) and run["virtual_seconds"] > 0
        assert run["regret"] is None or run["regret"] >= -1e-9
        assert 0 <= run["duplicates"] + run["noops"] <= run["trials"]


def test_the_fixed_policy_takes_its_pipeline_from_the_space(table):
    result = run_arena(table, ["fixed"], seeds=2, budget=3)
    runs = result["runs"]
    assert [r["trials"] for r in runs] == [1, 1] and {r["stopped_by"] for r in runs} == {"policy"}
    assert runs[0]["best_so_far"] != runs[1]["best_so_far"]  # the bootstrap: each seed its own resample
    same = run_arena(table, ["fixed"], seeds=2, budget=3, bootstrap=False)["runs"]
    assert same[0]["best_so_far"] == same[1]["best_so_far"]


def test_policies_stay_inside_the_table_until_the_space_is_exhausted(tmp_path):
    """The pool offers no model at the table's depth and only common ancestors as a TIES base, so no trial asks
    the table for a pipeline it lacks; once every pipeline is tried the policies stop."""
    cfg = space_config(
        fake_model_dir(tmp_path / "base-model"),
        actions=["sft", "linear", "ties"],
        datasets=[{"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 8}],
        grids={"sft": {"learning_rate": [1e-4, 1e-3]}, "linear": {"weight": [0.5]}},
    )
    path = tmp_path / "ties.jsonl.gz"
    pipelines = write_synthetic_table(path, cfg)
    assert any(p.action == "ties" for p in pipelines)
    result = run_arena(path, POLICIES, seeds=1, budget=len(pipelines) + 5, bootstrap=False)
    for run in result["runs"]:
        assert run["failed"] == 0, run["policy"]
        assert run["trials"] == len(pipelines) - 1 and run["stopped_by"] == "policy", run["policy"]
        assert run["regret"] == pytest.approx(0.0)  # every pipeline tried: the table's best was found


def test_a_screened_policy_runs_in_the_arena(table):
    result = run_arena(table, ["random+screen3"], seeds=2, budget=5, bootstrap=False)
    assert set(result["policies"]) == {"random+screen3"}
    for run in result["runs"]:
        assert run["failed"] == 0 and run["trials"] == 5 and run["agent_seconds"] > 0
    with pytest.raises(LamdagentError, match=r"random\+screenx: write the candidates as a number"):
        run_arena(table, ["random+screenx"], seeds=1, budget=1)


def test_bad_arguments_are_one_line_errors(table, tmp_path):
    with pytest.raises(LamdagentError, match="at least one policy"):
        run_arena(table, [], seeds=1, budget=1)
    with pytest.raises(LamdagentError, match="not found"):
        run_arena(tmp_path / "missing.jsonl", ["random"], seeds=1, budget=1)
    with pytest.raises(LamdagentError, match="unknown policy"):
        run_arena(table, ["no-such-policy"], seeds=1, budget=1)


def test_the_interval_covers_the_mean():
    assert interval([0.5]) == {"mean": 0.5, "low": 0.5, "high": 0.5, "n": 1}
    entry = interval([0.1, 0.2, 0.3, 0.9])
    assert entry["low"] <= entry["mean"] <= entry["high"] and entry["n"] == 4
    assert interval([])["mean"] is None


@pytest.mark.slow
def test_an_llm_driven_policy_runs_in_the_arena_on_the_embedded_gguf(table, tmp_path):
    """The hybrid policy (the llm policy's two steps, TPE for the grid values) with a real agent LLM, the
    embedded model through llama.cpp: every trial is valid and inside the table, and each decision is kept in
    the run's ledger with its options."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'lamdagent[llamacpp]')")
    from lamdagent.ledger import Ledger

    llm = {"backend": "llamacpp", "n_ctx": 4096}
    result = run_arena(table, ["hybrid"], seeds=1, budget=2, runs_dir=tmp_path / "runs", llm=llm)
    for run in result["runs"]:
        assert run["failed"] == 0 and run["trials"] == 2 and run["agent_seconds"] > 0, run
        with Ledger(tmp_path / "runs" / f"{run['policy']}-{run['seed']}") as ledger:
            decisions = {e["trial_id"]: e["payload"] for e in ledger.events("decision")}
            trials = ledger.trials()
        assert set(decisions) == {t.id for t in trials}
        for trial in trials:
            steps = decisions[trial.id]["steps"]
            assert steps and all(s["answer"] in s["options"] for s in steps if "options" in s)
            # the grid values are TPE's: the LLM is never asked for them
            assert not any(s["step"] in ("slot learning_rate", "slot weight") for s in steps)


def test_predict_reads_a_run_and_predicts_a_candidate(table, tmp_path, capsys):
    """`lamdagent predict` on a run made under the table executor (its ledger keeps the verdicts)."""
    run_arena(table, ["random"], seeds=1, budget=6, runs_dir=tmp_path / "runs", bootstrap=False)
    run_dir = tmp_path / "runs" / "random-0"
    from lamdagent.runinfo import load_run

    made = [t for t in load_run(run_dir).trials if t.state == "finished"]
    action = f"sft(model={made[0].output_model}, data=tool_sft; learning_rate=0.001)"
    assert main(["predict", str(run_dir), "--action", action, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["scores"]) == {"tool_use", "instruction_following"} and out["fitted_on"] == 7
    for task, value in out["scores"].items():
        assert out["low"][task] <= value <= out["high"][task]
    assert main(["predict", str(run_dir), "--action", "sft(model=m404, data=tool_sft)"]) == 2
    assert "m404 is no model or dataset of" in capsys.readouterr().err


def test_the_surrogate_answers_deeper_pipelines_and_marks_them(table):
    """With a surrogate of depth 3 the policies may go one step past the table: those trials are predicted,
    counted apart, and never written into the table."""
    before = table.read_bytes()
    result = run_arena(table, ["random"], seeds=2, budget=30, bootstrap=False, surrogate=3)
    runs = result["runs"]
    assert all(r["failed"] == 0 for r in runs)
    assert sum(r["predicted"] for r in runs) > 0  # some depth-3 pipelines were drawn
    assert 0 < result["policies"]["random"]["predicted_fraction"]["mean"] < 1
    assert table.read_bytes() == before
    plain = run_arena(table, ["random"], seeds=1, budget=30, bootstrap=False)
    assert plain["runs"][0]["predicted"] == 0  # without it: inside the table, nothing made up


def test_a_journal_lets_a_stopped_arena_resume_without_running_again(table, tmp_path, monkeypatch):
    import lamdagent.arena as arena

    journal = tmp_path / "arena-runs.jsonl"
    first = run_arena(table, ["random", "tpe"], seeds=2, budget=3, journal=journal)
    lines = journal.read_text().splitlines()
    assert len(lines) == 4
    journal.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])  # the last run cut by a kill
    ran: list[tuple[str, int]] = []
    real = arena.run_one

    def counting(table_, scores, policy, seed, *rest):
        ran.append((policy, seed))
        return real(table_, scores, policy, seed, *rest)

    monkeypatch.setattr(arena, "run_one", counting)
    again = run_arena(table, ["random", "tpe"], seeds=2, budget=3, journal=journal)
    assert ran == [("tpe", 1)]  # only the run the kill cut off
    assert again["runs"][:3] == first["runs"][:3] and again["policies"]["random"] == first["policies"]["random"]
    ran.clear()
    run_arena(table, ["random"], seeds=1, budget=4, journal=journal)  # other settings: nothing reused
    assert ran == [("random", 0)]
    ran.clear()
    rows = gzip.decompress(table.read_bytes()).decode().splitlines()
    edited = json.loads(rows[-1])
    edited["seconds"]["eval"] += 1.0  # the same number of rows, one figure changed
    table.write_bytes(gzip.compress("\n".join([*rows[:-1], json.dumps(edited)]).encode()))
    run_arena(table, ["random"], seeds=1, budget=3, journal=journal)
    assert ran == [("random", 0)]  # another table: its runs are made again


def test_an_agent_s_journaled_runs_are_reused_only_under_the_same_prompts(table, tmp_path, monkeypatch):
    import dataclasses

    import lamdagent.arena as arena

    template = arena.ArenaRun(**run_arena(table, ["random"], seeds=1, budget=2)["runs"][0])
    ran: list[tuple[str, int]] = []

    def fake(table_, scores, policy, seed, *rest):  # stands in for an LLM agent's run: the journal is under test
        ran.append((policy, seed))
        return dataclasses.replace(template, policy=policy, seed=seed)

    monkeypatch.setattr(arena, "run_one", fake)
    journal = tmp_path / "arena-runs.jsonl"
    for _ in range(2):
        run_arena(table, ["llm", "random"], seeds=1, budget=2, journal=journal)
    assert ran == [("llm", 0), ("random", 0)]  # the second time, both came from the journal
    monkeypatch.setattr(arena, "prompts_fingerprint", lambda: "edited-prompts")
    run_arena(table, ["llm"], seeds=1, budget=2, journal=journal)
    assert ran[2:] == [("llm", 0)]  # other prompts: the agent's runs are made again


def test_a_journal_keys_a_local_agent_model_on_its_content_not_its_path(tmp_path):
    from lamdagent.arena import agent_identity

    here, there = tmp_path / "a", tmp_path / "b"
    here.mkdir()
    there.mkdir()
    (here / "agent.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 8)
    (there / "agent.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 8)
    first = agent_identity({"backend": "llamacpp", "model": str(here / "agent.gguf")})
    assert first == agent_identity({"backend": "llamacpp", "model": str(there / "agent.gguf")})  # moved: same
    assert str(tmp_path) not in json.dumps(first) and first["model"].startswith("agent.gguf#")
    (there / "agent.gguf").write_bytes(b"GGUF" + bytes(range(255, -1, -1)) * 8)  # other weights, same name
    assert agent_identity({"backend": "llamacpp", "model": str(there / "agent.gguf")}) != first
    assert agent_identity({"backend": "llamacpp"}) == {"backend": "llamacpp"}  # the embedded agent: as it was
    assert agent_identity({"backend": "local", "model": "org/hub-id"})["model"] == "org/hub-id"
