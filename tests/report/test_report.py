"""The HTML report of a small real run, checked as text and rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sample_run import HOSTILE, build_sample_run, model_ids

from lamdagent.errors import LamdagentError
from lamdagent.ledger import Ledger
from lamdagent.report import write_report

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = build_sample_run(tmp_path_factory.mktemp("report") / "run")
    return write_report(run_dir)


def expected_graph(run_dir: Path) -> tuple[int, int]:
    """Nodes and edges straight from the ledger: one node per base and distinct produced model; one edge per
    model input of the trial that first produced each model."""
    with Ledger(run_dir) as ledger:
        models = {b["id"] for b in ledger.get_meta("base_models")}
        edges = 0
        for t in ledger.trials("finished"):
            if t.output_model in models:
                continue
            ids = [i for i in t.spec.input_ids()]
            edges += len({i for i in ids if i in models})
            models.add(t.output_model)
    return len(models), edges


def test_report_is_self_contained_and_escapes_ledger_text(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert report.name == "report.html"
    assert len(re.findall(r"<script\b", html)) == 1  # only ours: the hostile rationale and error are escaped
    assert HOSTILE not in html and "&lt;script&gt;window.__pwned" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from the network
    assert "<svg" in html and "default-src 'none'" in html


def test_unknown_pareto_task_names_the_known_ones(report: Path) -> None:
    with pytest.raises(LamdagentError, match="tool_use, instruction_following"):
        write_report(report.parent, pareto=("tool_use", "nope"))


def test_pareto_axes_can_be_chosen(report: Path) -> None:
    html = write_report(report.parent, pareto=("instruction_following", "tool_use")).read_text(encoding="utf-8")
    assert "Pareto front: instruction_following vs tool_use" in html


def test_merge_inputs_are_listed_by_id(report: Path) -> None:
    """A multi-model slot is a tuple in the spec; the trial table shows its ids, not the tuple's repr."""
    html = report.read_text(encoding="utf-8")
    ids = model_ids()
    assert f"models: {ids['sft1']}, {ids['sft2']}" in html
    assert f"models: {ids['best']}, {ids['sft2']}" in html


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("headless test needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    return chromium, driver


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    chromium, driver_path = _browser()
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    report = write_report(report.parent)  # the default report, whatever other tests rendered before
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.get(report.as_uri())
        nodes = browser.find_elements(By.CSS_SELECTOR, "svg.lineage g.node")
        edges = browser.find_elements(By.CSS_SELECTOR, "svg.lineage g.edge path")
        n_nodes, n_edges = expected_graph(report.parent)
        assert (len(nodes), len(edges)) == (n_nodes, n_edges) == (6, 8)
        best = {n.get_attribute("data-model") for n in browser.find_elements(By.CSS_SELECTOR, "g.node.best")}
        assert model_ids()["best"] in best and len(best) == 5  # base, two SFTs, the TIES merge, the final SFT
        assert browser.find_elements(By.CSS_SELECTOR, "g.edge.best .edge-label")
        # every node actually drew a shape with a size
        for node in nodes:
            shape = node.find_element(By.CSS_SELECTOR, "circle, rect")
            assert shape.size["width"] > 10
        assert len(browser.find_elements(By.CSS_SELECTOR, "g.node.infeasible")) == 1  # the linear blend

        with Ledger(report.parent) as ledger:
            scores = [t.score for t in ledger.trials("finished")]
        charts = browser.find_elements(By.CSS_SELECTOR, "#curves svg.chart")
        assert len(charts) == 3  # objective plus one per task
        for k, chart in enumerate(charts):
            points = len(chart.find_elements(By.CSS_SELECTOR, "circle.point"))
            infeasible = len(chart.find_elements(By.CSS_SELECTOR, "path.infeasible-mark"))
            if k == 0:  # a broken constraint scores below -1: marked along the bottom, not plotted
                assert (points, infeasible) == (sum(s >= -1 for s in scores), sum(s < -1 for s in scores)) == (5, 1)
            else:  # task metrics of every finished trial
                assert (points, infeasible) == (len(scores), 0)
            curve = chart.find_element(By.CSS_SELECTOR, "path.curve")
            assert curve.get_attribute("d").count("L") >= 4
            assert len(chart.find_elements(By.CSS_SELECTOR, "path.failed-mark")) == 1
        pareto = browser.find_element(By.CSS_SELECTOR, "#pareto svg.pareto")
        assert len(pareto.find_elements(By.CSS_SELECTOR, "circle.point")) == n_nodes
        assert pareto.find_elements(By.CSS_SELECTOR, "circle.point.front")

        rows = browser.find_elements(By.CSS_SELECTOR, "table.trials tbody tr")
        assert len(rows) == 7
        failed = browser.find_element(By.ID, "trial-3")
        assert "DPO diverged" in failed.text and "fallback" in failed.text
        assert "cached" in browser.find_element(By.ID, "trial-6").text
        assert len(browser.find_elements(By.CSS_SELECTOR, "#decisions pre.rationale")) == 7
        assert len(browser.find_elements(By.CSS_SELECTOR, "#memory details.memory")) == 3
        assert browser.execute_script("return window.__pwned === undefined")

        assert "breaks a constraint" in browser.find_element(By.ID, "trial-7").text

        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, min(height + 120, 8000))
        artifacts = REPO / "artifacts"
        artifacts.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(artifacts / "report.png"))

        # the script links the graph to the table
        browser.find_element(By.CSS_SELECTOR, 'g.node[data-trial="5"]').click()
        assert "flash" in browser.find_element(By.ID, "trial-5").get_attribute("class")
        assert "selected" in browser.find_element(By.CSS_SELECTOR, 'g.node[data-trial="5"]').get_attribute("class")

        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
    finally:
        browser.quit()


def test_answers_of_the_base_and_the_best_are_shown_side_by_side(tmp_path: Path) -> None:
    """The worker keeps a few answers per task in each job's result.json; the report sets the best model's
    beside the base model's for the same items, escaped like every other string."""
    import json

    from lamdagent.runinfo import load_run

    run_dir = build_sample_run(tmp_path / "run")
    best = load_run(run_dir).best_trial()
    assert best is not None
    hostile = "<script>alert(1)</script>"

    def write(job: str, output: str, correct: bool) -> None:
        sample = {
            "id": "q1",
            "prompt": f"what is 2+2? {hostile}",
            "output": output,
            "reference": "4",
            "correct": correct,
        }
        path = run_dir / "jobs" / job / "result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"ok": True, "stats": {"samples": {"validation": {"tool_use": [sample]}}}}))

    base_id = next(iter(load_run(run_dir).bases))
    write(f"eval-{base_id}", "five", False)
    write(f"trial-{best.id:04d}", "4", True)
    html = write_report(run_dir).read_text()
    section = html[html.index('id="answers"') : html.index('id="trials"')]
    assert "five" in section and ">4</pre>" in section and "badge right" in section and "badge wrong" in section
    assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in section


def test_the_test_gain_of_the_primary_metric_shows_its_paired_interval(tmp_path: Path) -> None:
    run_dir = build_sample_run(tmp_path / "run")
    best = model_ids()["best"]
    with Ledger(run_dir) as ledger:  # base test tool use 0.18, the best 0.45 (sample run)
        ledger.log_event("test_verdicts", {"model": "base", "test": {"tool_use": [1] * 18 + [0] * 82}})
        ledger.log_event("test_verdicts", {"model": best, "test": {"tool_use": [1] * 45 + [0] * 55}})
    html = write_report(run_dir).read_text(encoding="utf-8")
    cell = re.search(r'title="paired 95% bootstrap interval over the 100 test items[^"]*">\+0\.270 \[([^\]]+)\]', html)
    assert cell is not None
    low, high = (float(x) for x in cell.group(1).split(","))
    assert 0 < low < 0.27 < high
    assert html.count("paired 95% bootstrap interval") == 1  # the primary metric of tool use only
