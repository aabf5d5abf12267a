"""A run whose every user-controlled string is markup still gives a report with no live markup, under a strict
Content-Security-Policy that allows only the report's own script and style blocks (by their hashes)."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lamdagent.ledger import Ledger
from lamdagent.report import write_report
from lamdagent.spec import ActionSpec

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
SVG = "<svg onload=alert(1)>"
TASK_A = f"tool{SCRIPT}"
TASK_B = f"if{BREAKOUT}"
DATA = f"data{BREAKOUT}"
BASE_NAME = f"model{SCRIPT}{SVG}"


def metrics(a: float, b: float) -> dict[str, dict[str, float]]:
    return {TASK_A: {"accuracy": a, f"m{BREAKOUT}": a}, TASK_B: {"accuracy": b}}


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("hostile") / f"run{BREAKOUT}".replace("/", "_")
    config = {
        "base_models": [BASE_NAME],
        "datasets": [{"name": DATA, "kind": "sft", "source": f"file{SCRIPT}.jsonl", "description": BREAKOUT}],
        "tasks": [
            {"name": TASK_A, "source": "builtin:tool_use", "weight": 1.0},
            {"name": TASK_B, "source": "builtin:instruction_following", "weight": 0.0},
        ],
        "constraints": [{"task": TASK_B, "min_delta": -0.05}],
        "actions": ["sft", "linear"],
        "grids": {"sft": {"learning_rate": [1e-4, 2e-4]}},
        "params": {"sft": {"lora_r": 8}},
        "budget": {"iterations": 3},
    }
    with Ledger(run_dir) as ledger:
        ledger.set_meta("config", config)
        ledger.set_meta("base_models", [{"id": "base", "name": BASE_NAME, "path": f"/models/{SCRIPT}"}])
        ledger.set_meta("primary_metrics", {TASK_A: "accuracy", TASK_B: "accuracy"})
        ledger.set_meta(
            "base", {"base": {"metrics": metrics(0.2, 0.5), "test_metrics": metrics(0.2, 0.5), "score": 0.2}}
        )
        ledger.add_memory(f"Remember {SCRIPT} and {BREAKOUT}")
        sft = ActionSpec(
            action="sft", inputs={"model": "base", "data": DATA}, params={"learning_rate": 1e-4, "note": BREAKOUT}
        )
        t1 = ledger.start_trial(sft, 1, rationale=f"Because {SCRIPT}{BREAKOUT}", llm_tokens=10)
        step = {"step": "slot data", "prompt": f"Datasets: {SCRIPT}", "options": [DATA, SVG], "scores": [-0.5, -1.0]}
        screen = [
            {"spec": {"action": "sft", "inputs": {"data": SCRIPT}, "params": {}}, "objective": 0.5}
            | {"predicted": {TASK_A: 0.5}, "low": {TASK_A: 0.4}, "high": {TASK_A: 0.6}}
        ]
        payload = {"steps": [{**step, "answer": DATA}], "screen": screen, "tokens": 7, "seconds": 0.2}
        ledger.log_event("decision", payload, t1)
        judged = {"alpha": 0.21, "unreliable": 1.0, "judge_calls": 6, "judge_tokens": 300, "judge_seconds": 2.5}
        ledger.log_event("task_info", {"model": sft.model_id(), "validation": {TASK_A: judged}}, t1)
        # the test figures of a model scored at the end come in a later event: both are kept
        ledger.log_event("task_info", {"model": sft.model_id(), "test": {TASK_A: {**judged, "alpha": 0.77}}})
        ledger.finish_trial(t1, sft.model_id(), metrics(0.4, 0.55), metrics(0.38, 0.5), 0.4, timings={"train_s": 1.0})
        ledger.add_memory(f"After trial 1: {SVG} {BREAKOUT}", trial_id=t1)
        blend = ActionSpec(action="linear", inputs={"models": [sft.model_id(), "base"]}, params={"weight": 0.5})
        t2 = ledger.start_trial(blend, 2, rationale=BREAKOUT, llm_tokens=10)
        ledger.finish_trial(t2, blend.model_id(), metrics(0.3, 0.6), metrics(0.3, 0.6), 0.3, timings={"wall_s": 2.0})
        bad = ActionSpec(action="sft", inputs={"model": "base", "data": DATA}, params={"learning_rate": 2e-4})
        t3 = ledger.start_trial(bad, 3, rationale=SVG, llm_tokens=10)
        ledger.fail_trial(t3, f"RuntimeError: {SCRIPT}{BREAKOUT}{SVG}", timings={"load_s": 0.1})
    return write_report(run_dir)


class Elements(HTMLParser):
    """Every element a browser would build from the page, with its attributes, and the text of <script>/<style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.blocks: dict[str, list[str]] = {"script": [], "style": []}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.blocks:
            self._in = tag
            self.blocks[tag].append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.blocks[self._in][-1] += data
        else:
            self.text.append(data)


@pytest.fixture(scope="module")
def page(hostile_report: Path) -> Elements:
    parsed = Elements()
    parsed.feed(hostile_report.read_text(encoding="utf-8"))
    parsed.close()
    return parsed


def sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def test_no_user_string_becomes_markup(page: Elements) -> None:
    tags = [tag for tag, _ in page.tags]
    assert tags.count("script") == 1 and "img" not in tags
    assert tags.count("svg") == sum(1 for _, a in page.tags if a.get("xmlns") == "http://www.w3.org/2000/svg")
    for tag, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not any("javascript:" in (v or "").lower() for v in attrs.values()), (tag, attrs)
    assert "alert(1)" not in page.blocks["script"][0]


def test_user_strings_are_shown_as_text(page: Elements) -> None:
    text = "".join(page.text)
    # the agent's decision record (prompt and options carry user strings) is text too
    for shown in (
        TASK_A,
        TASK_B,
        DATA,
        BASE_NAME,
        f"Because {SCRIPT}{BREAKOUT}",
        f"RuntimeError: {SCRIPT}",
        f"Datasets: {SCRIPT}",
        f"{SVG} (-1.000)",
    ):
        assert shown in text, shown


def test_attribute_values_keep_user_strings_inside_them(page: Elements) -> None:
    titled = [a["title"] for _, a in page.tags if a.get("title")]
    assert any(BREAKOUT in t for t in titled)  # the parameters' tooltip: escaped, so still one attribute


def test_csp_allows_only_the_reports_own_blocks(page: Elements) -> None:
    metas = [
        a for tag, a in page.tags if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"
    ]
    assert len(metas) == 1
    policy = {part.split()[0]: part.split()[1:] for part in (metas[0]["content"] or "").split(";") if part.strip()}
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == [sha256(page.blocks["script"][0])]
    assert policy["style-src"] == [sha256(page.blocks["style"][0])]
    assert not any("unsafe" in source for sources in policy.values() for source in sources)
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'none'"]
    assert not [a for _, a in page.tags if "style" in a]  # inline style attributes would need 'unsafe-inline'


def test_pareto_titles_are_escaped(hostile_report: Path) -> None:
    html = hostile_report.read_text(encoding="utf-8")
    assert "<title>" in html and SCRIPT not in html and BREAKOUT not in html and SVG not in html
