"""What the terminal shows: an agent that failed is said loudly, and user text never breaks rich's markup."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from lamdagent.console import ConsoleObserver, format_metrics, print_summary
from lamdagent.ledger import TrialRecord, TrialState
from lamdagent.observer import RunSummary
from lamdagent.spec import ActionSpec


def _trial(**kw: object) -> TrialRecord:
    spec = ActionSpec(action="sft", inputs={"model": "base", "data": "d"}, params={})
    fields = {"id": 1, "iteration": 1, "spec_hash": spec.spec_hash(), "spec": spec, "state": TrialState.FINISHED}
    fields.update(output_model="m1", metrics={"tool_use": {"accuracy": 0.5}}, score=0.5)
    fields.update(kw)
    return TrialRecord(**fields)  # type: ignore[arg-type]


def test_a_fallback_is_said_loudly_and_markup_in_names_prints_as_written():
    console = Console(record=True, width=200)
    observer = ConsoleObserver(console)
    trial = _trial(fallback=True, rationale="fallback (random action): the LLM failed: connection refused [/x]")
    observer.launched(trial, "sft(model=base, data=[/x]odd)")
    observer.ended(_trial(state=TrialState.FAILED, error="bad [/red] thing"), None, "iterations 1", {})
    text = console.export_text()
    assert "the agent gave no valid answer; a random action was run instead" in text
    assert "connection refused [/x]" in text and "data=[/x]odd" in text and "bad [/red] thing" in text


def test_the_summary_counts_fallbacks_and_shows_intervals_and_the_trade_off(tmp_path: Path):
    best = _trial(test_metrics={"tool_use": {"accuracy": 0.75}})
    base = {"base": {"metrics": {"tool_use": {"accuracy": 0.25}}, "test_metrics": {"tool_use": {"accuracy": 0.25}}}}
    base["base"]["score"] = 0.25
    summary = RunSummary(
        run_dir=tmp_path,
        best=best,
        base=base,
        trials=4,
        stopped_by="iterations",
        elapsed_s=10.0,
        fallbacks=3,
        items={"validation": {"tool_use": 16}, "test": {"tool_use": 16}},
    )
    console = Console(record=True, width=300)
    print_summary(summary, console)
    text = console.export_text()
    assert "the agent failed on 3 of 4 choices" in text
    assert "tool_use 0.750 [0.51, 0.90] n=16" in text  # Wilson 95% interval of 12 of 16
    assert "against the base on test: tool_use +0.500; on validation constraints kept" in text
    assert format_metrics({"t": {"accuracy": 0.5}}) == "t 0.500"


def test_a_run_that_proposed_nothing_says_why_not_see_the_errors(tmp_path: Path):
    summary = RunSummary(run_dir=tmp_path, best=None, base={}, trials=0, stopped_by="policy", elapsed_s=1.0)
    console = Console(record=True, width=300)
    print_summary(summary, console)
    text = console.export_text()
    assert "no trial ran: the policy proposed no action" in text and "see the errors" not in text


def test_the_trade_off_line_gives_the_paired_interval_of_each_test_gain(tmp_path: Path):
    best = _trial(test_metrics={"tool_use": {"accuracy": 0.75}})
    base = {"base": {"metrics": {"tool_use": {"accuracy": 0.25}}, "test_metrics": {"tool_use": {"accuracy": 0.25}}}}
    gains = {"tool_use": {"mean": 0.5, "low": 0.3125, "high": 0.6875, "n": 16}}
    summary = RunSummary(
        run_dir=tmp_path, best=best, base=base, trials=1, stopped_by="iterations", elapsed_s=1.0, test_gains=gains
    )
    console = Console(record=True, width=300)
    print_summary(summary, console)
    text = console.export_text()
    assert "against the base on test (paired 95% intervals): tool_use +0.500 [+0.31, +0.69]; on validation" in text
