"""`lamdagent report DIR`: one self-contained HTML file (inline CSS, JS and SVG) that opens with no network.

It reads only the ledger (through `runinfo`), never the executor or a live process, so it can be rendered
while a run is going, after it died, or on another machine from a copied run directory.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.evaluation.objective import pareto_front
from lamdagent.io import write_atomic
from lamdagent.ledger import TrialRecord
from lamdagent.report.svg import (
    PALETTE,
    GraphNode,
    Series,
    esc,
    fmt,
    line_chart,
    lineage_svg,
    pareto_svg,
)
from lamdagent.runinfo import RunInfo, answer_samples, feasible, finite, load_run
from lamdagent.spec import SlotValue, as_ids

REPORT_FILE = "report.html"
MAX_ERROR_CHARS = 600


def _asset(name: str) -> str:
    return resources.files("lamdagent.report").joinpath(name).read_text(encoding="utf-8")


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(v)


def key_params(run: RunInfo) -> dict[str, list[str]]:
    """Per action, the parameters worth printing on a graph edge: those the run varied (or its grid spans)."""
    values: dict[str, dict[str, set[str]]] = {}
    for t in run.trials:
        for k, v in t.spec.params.items():
            values.setdefault(t.action, {}).setdefault(k, set()).add(json.dumps(v, sort_keys=True))
    grids = run.config.get("grids") or {}
    out: dict[str, list[str]] = {}
    for action, params in values.items():
        keys = [k for k, vs in params.items() if len(vs) > 1 or k in (grids.get(action) or {})]
        out[action] = keys or list(params)[:2]
    return out


def _objects(run: RunInfo, spec_inputs: Mapping[str, SlotValue]) -> str:
    parts = []
    for slot, value in spec_inputs.items():
        ids = as_ids(value)  # a multi-model slot holds a tuple of ids
        shown = [f"{i} ({run.bases[i].name})" if i in run.bases and run.bases[i].name != i else str(i) for i in ids]
        parts.append(f"{slot}: {', '.join(shown)}")
    return "; ".join(parts)


def _params_text(params: Mapping[str, Any], keys: list[str] | None = None) -> str:
    return ", ".join(f"{k}={_value(params[k])}" for k in (keys if keys is not None else params) if k in params)


def _wall_s(t: TrialRecord) -> float | None:
    """The executor's own measure when it recorded one, else the ledger's start-to-end time."""
    if isinstance(t.timings.get("wall_s"), int | float):
        return float(t.timings["wall_s"])
    if t.finished_at is not None and t.started_at:
        return max(0.0, t.finished_at - t.started_at)
    return None


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# -- sections -----------------------------------------------------------------------------------------
def _header(run: RunInfo, best: TrialRecord | None) -> str:
    trials = run.trials
    states = Counter(str(t.state) for t in trials)
    cached = sum(t.cached for t in trials)
    fallbacks = sum(t.fallback for t in trials)
    starts = [t.started_at for t in trials if t.started_at]
    ends = [t.finished_at for t in trials if t.finished_at]
    span = (max(ends) - min(starts)) if starts and ends else None
    extra = "".join(f", {states[s]} {s}" for s in ("running", "interrupted") if states[s])
    facts = [
        f"{len(trials)} trials ({states['finished']} finished, {states['failed']} failed, {cached} cached{extra})",
        f"{len({t.iteration for t in trials})} iterations",
        f"wall time {_duration(span)}",
        f"{run.llm_tokens} agent LLM tokens",
    ]
    out = [
        f"<header><h1>lamdagent run <code>{esc(run.run_dir.name)}</code></h1>",
        f'<p class="facts">{esc(" · ".join(facts))}</p>',
        f'<p class="objective"><b>Objective:</b> {esc(run.objective_text())}</p>',
    ]
    if fallbacks:
        out.append(
            f'<p class="warning"><span class="badge fallback">agent failed</span> {fallbacks} of {len(trials)} '
            "choices were random because the agent LLM gave no usable answer (unreachable, or invalid answers); "
            "see the trials marked fallback.</p>"
        )
    if best is None:
        out.append('<p class="no-best">No trial has finished with a score yet.</p></header>')
        return "".join(out)
    model_id = str(best.output_model)
    steps = run.pipeline_steps(model_id)
    roots = run.root_bases(model_id)
    base = roots[0] if roots else next(iter(run.bases.values()), None)
    out.append(
        f'<p class="best"><b>Best model:</b> <code>{esc(model_id)}</code> from trial '
        f'<a href="#trial-{best.id}">{best.id}</a> (validation score <b>{esc(fmt(best.score))}</b>'
        + (f" vs base {esc(fmt(base.score))}" if base else "")
        + ")</p>"
    )
    keys = key_params(run)
    out.append('<ol class="pipeline">')
    for step in steps:
        out.append(
            f'<li><span class="action">{esc(step["action"])}</span> '
            f"{esc(', '.join(f'{k}={_value(v)}' for k, v in step['inputs'].items()))}"
            f'<span class="params" title="{esc(_params_text(step["params"]))}">'
            f"{esc(_params_text(step['params'], keys.get(step['action'])))}</span></li>"
        )
    out.append("</ol>")
    out.append(
        "<details><summary>Pipeline as YAML (replay it with the <code>fixed</code> policy)</summary>"
        f'<pre class="yaml">{esc(run.pipeline_yaml(model_id))}</pre></details>'
    )
    out.append(_score_table(run, best, base))
    out.append("</header>")
    return "".join(out)


def _delta(a: float | None, b: float | None, gain: Mapping[str, Any] | None = None) -> str:
    """A difference cell; with `gain` (`RunInfo.test_gains`) also its paired 95% interval."""
    if not (finite(a) and finite(b)):
        return "<td></td>"
    d = float(a) - float(b)
    cls = "up" if d > 1e-12 else ("down" if d < -1e-12 else "")
    low, high = (gain or {}).get("low"), (gain or {}).get("high")
    if finite(low) and finite(high):
        title = f"paired 95% bootstrap interval over the {(gain or {}).get('n')} test items of both models"
        return f'<td class="delta {cls}" title="{esc(title)}">{d:+.3f} [{low:+.2f}, {high:+.2f}]</td>'
    return f'<td class="delta {cls}">{d:+.3f}</td>'


def _score_table(run: RunInfo, best: TrialRecord, base: Any) -> str:
    base_score = base.score if base else None
    base_test_score = run.test_score(base.test_metrics) if base else None
    best_test_score = run.test_score(best.test_metrics)
    rows = [
        '<table class="scores"><thead><tr><th>task</th><th>metric</th><th>base val</th><th>best val</th>'
        "<th>Δ</th><th>base test</th><th>best test</th><th>Δ</th></tr></thead><tbody>",
        f"<tr class='objective-row'><td>objective</td><td>score</td><td>{esc(fmt(base_score))}</td>"
        f"<td>{esc(fmt(best.score))}</td>{_delta(best.score, base_score)}<td>{esc(fmt(base_test_score))}</td>"
        f"<td>{esc(fmt(best_test_score))}</td>{_delta(best_test_score, base_test_score)}</tr>",
    ]
    base_val = base.metrics if base else {}
    base_test = base.test_metrics if base else {}
    gains = run.test_gains(str(best.output_model)) if base is next(iter(run.bases.values()), None) else {}
    for task in run.task_names():
        metrics = list(dict.fromkeys([*(best.metrics.get(task) or {}), *(best.test_metrics.get(task) or {})]))
        for metric in metrics:
            bv, v = (base_val.get(task) or {}).get(metric), (best.metrics.get(task) or {}).get(metric)
            bt, t = (base_test.get(task) or {}).get(metric), (best.test_metrics.get(task) or {}).get(metric)
            rows.append(
                f"<tr><td>{esc(task)}</td><td>{esc(metric)}</td><td>{esc(fmt(bv))}</td><td>{esc(fmt(v))}</td>"
                f"{_delta(v, bv)}<td>{esc(fmt(bt))}</td><td>{esc(fmt(t))}</td>"
                f"{_delta(t, bt, gains.get(task) if metric == run.primary_metrics.get(task) else None)}</tr>"
            )
    rows.append("</tbody></table>")
    return "".join(rows)


def _answers(run: RunInfo, best: TrialRecord | None) -> str:
    """Per task, a few items the base and the best model both answered, side by side."""
    if best is None:
        return '<p class="hint">No trial has finished yet.</p>'
    base_id = next(iter(run.bases), "")
    base = answer_samples(run.run_dir, f"eval-{base_id}").get("validation", {})
    mine = answer_samples(run.run_dir, f"trial-{best.id:04d}").get("validation", {})
    if not base or not mine:
        return '<p class="hint">This run kept no answers (made before answers were stored).</p>'
    rows = ['<table class="answers"><thead><tr><th>task</th><th>prompt</th><th>base</th><th>best</th></tr></thead>']
    for task, samples in mine.items():
        theirs = {s.get("id"): s for s in base.get(task, [])}
        for sample in samples:
            other = theirs.get(sample.get("id"), {})
            rows.append(
                f"<tr><td>{esc(task)}</td><td><pre>{esc(str(sample.get('prompt', ''))[-600:])}</pre></td>"
                f"{_answer_cell(other)}{_answer_cell(sample)}</tr>"
            )
    rows.append("</table>")
    return "".join(rows)


def _answer_cell(sample: Mapping[str, Any]) -> str:
    correct = sample.get("correct")
    mark = "right" if correct is True else "wrong" if correct is False else ""
    badge = f'<span class="badge {mark}">{mark}</span> ' if mark else ""
    return f"<td>{badge}<pre>{esc(str(sample.get('output', '')))}</pre></td>"


def _lineage(run: RunInfo, best: TrialRecord | None) -> str:
    keys = key_params(run)
    nodes = run.nodes()
    best_path = set(run.lineage(str(best.output_model))) if best else set()
    tasks = run.task_names()
    graph: list[GraphNode] = []
    for n in sorted(nodes.values(), key=lambda n: (n.depth, n.trial.id if n.trial else -1)):
        metrics = n.base.metrics if n.base else (n.trial.metrics if n.trial else {})
        per_task = "\n".join(f"{t}: {fmt(run.task_value(metrics, t))}" for t in tasks)
        if n.base:
            graph.append(
                GraphNode(
                    id=n.id,
                    label=n.base.name,
                    depth=0,
                    parents=(),
                    score=n.score,
                    is_base=True,
                    tooltip=f"base model {n.base.name} ({n.id})\nscore {fmt(n.score)}\n{per_task}",
                )
            )
            continue
        t = n.trial
        assert t is not None
        graph.append(
            GraphNode(
                id=n.id,
                label=f"{n.id} · #{t.id}",
                depth=n.depth,
                parents=n.parents,
                score=n.score,
                trial_id=t.id,
                tooltip=f"{n.id}: trial {t.id}, iteration {t.iteration}\n{t.action} {_params_text(t.spec.params)}\n"
                f"score {fmt(n.score)}\n{per_task}",
                edge_label=t.action,
                edge_params=_params_text(t.spec.params, keys.get(t.action)),
                edge_tooltip=f"{t.action} on {_objects(run, t.spec.inputs)}\n{_params_text(t.spec.params)}",
            )
        )
    if not graph:
        return '<p class="empty">No models yet.</p>'
    return f'<div class="scroll">{lineage_svg(graph, best_path)}</div>'


def _curves(run: RunInfo) -> str:
    trials = sorted(run.trials, key=lambda t: (t.iteration, t.id))
    done = [t for t in trials if t.state == "finished"]
    failed = [(float(t.iteration), "failed", f"trial {t.id} failed") for t in trials if t.state == "failed"]
    base = next(iter(run.bases.values()), None)

    def chart(title: str, value: Any, base_value: float | None, y_label: str, objective: bool = False) -> str:
        marks = list(failed)
        pts, tips = [], []
        for t in done:
            v = value(t)
            if objective and finite(v) and not feasible(v):  # far below the rest: marked, not plotted
                marks.append((float(t.iteration), "infeasible", f"trial {t.id} breaks a constraint: {fmt(v)}"))
            elif finite(v):
                pts.append((float(t.iteration), float(v)))
                tips.append(f"trial {t.id}: {fmt(v)}")
        running: list[tuple[float, float]] = []
        for x, y in pts:
            running.append((x, max(y, running[-1][1]) if running else y))
        series = [
            Series("trial", pts, "points", PALETTE[0], tips),
            Series("best so far", running, "step", PALETTE[1]),
        ]
        hl = [(float(base_value), f"base {fmt(base_value)}")] if finite(base_value) else []
        return line_chart(title, series, y_label=y_label, hlines=hl, marks=marks)

    charts = [chart("objective score (validation)", lambda t: t.score, base.score if base else None, "score", True)]
    for task in run.task_names():
        charts.append(
            chart(
                f"{task} (validation)",
                lambda t, task=task: run.task_value(t.metrics, task),
                run.task_value(base.metrics, task) if base else None,
                task,
            )
        )
    if not run.trials:
        return '<p class="empty">No trials yet.</p>'
    return '<div class="charts">' + "".join(charts) + "</div>"


def _pareto(run: RunInfo, pareto: tuple[str, str] | None, best: TrialRecord | None) -> str:
    tasks = run.task_names()
    if pareto is not None:
        missing = [t for t in pareto if t not in tasks]
        if missing:
            raise LamdagentError(
                f"--pareto: unknown task {missing[0]!r}; the run's tasks are {', '.join(tasks) or 'none'}"
            )
        x_task, y_task = pareto
    elif len(tasks) >= 2:
        x_task, y_task = tasks[0], tasks[1]
    else:
        return '<p class="empty">A Pareto front needs two tasks; this run has one.</p>'
    points, labels = [], []
    for n in run.nodes().values():
        metrics = n.base.metrics if n.base else (n.trial.metrics if n.trial else {})
        x, y = run.task_value(metrics, x_task), run.task_value(metrics, y_task)
        if finite(x) and finite(y):
            points.append((float(x), float(y)))
            labels.append(n.label)
    if not points:
        return '<p class="empty">No model has scores on both tasks yet.</p>'
    front = pareto_front({i: {"x": x, "y": y} for i, (x, y) in enumerate(points)}, "x", "y")
    scores = {n.label: n.score for n in run.nodes().values()}
    table = [
        f'<table class="front"><thead><tr><th>on the front</th><th>{esc(x_task)}</th><th>{esc(y_task)}</th>'
        "<th>score</th></tr></thead><tbody>"
    ]
    for i in sorted(front, key=lambda i: -points[i][0]):
        table.append(
            f"<tr><td><code>{esc(labels[i])}</code></td><td class='num'>{esc(fmt(points[i][0]))}</td>"
            f"<td class='num'>{esc(fmt(points[i][1]))}</td><td class='num'>{esc(fmt(scores.get(labels[i])))}</td></tr>"
        )
    table.append("</tbody></table>")
    svg = pareto_svg(x_task, y_task, points, labels, front, str(best.output_model) if best else None)
    return f'<div class="charts">{svg}<div>{"".join(table)}</div></div>'


def _trials_table(run: RunInfo) -> str:
    tasks = run.task_names()
    keys = key_params(run)
    fixed = "".join(
        f'<th rowspan="2">{h}</th>' for h in ("#", "iter", "action", "objects", "parameters", "model", "score")
    )
    rows = [
        f'<table class="trials"><thead><tr>{fixed}'
        + "".join(f'<th colspan="2" class="task">{esc(t)}</th>' for t in tasks)
        + '<th rowspan="2">wall</th><th rowspan="2">state</th></tr><tr>'
        + "<th>val</th><th>test</th>" * len(tasks)
        + "</tr></thead><tbody>"
    ]
    for t in run.trials:
        flags = "".join(
            f'<span class="badge {cls}">{label}</span>'
            for cls, label, on in (
                ("fallback", "fallback", t.fallback),
                ("cached", "cached", t.cached),
                ("infeasible", "breaks a constraint", finite(t.score) and not feasible(t.score)),
            )
            if on
        )
        state = f'<span class="state {esc(t.state)}">{esc(t.state)}</span>{flags}'
        if t.error:
            err = t.error if len(t.error) <= MAX_ERROR_CHARS else t.error[:MAX_ERROR_CHARS] + "…"
            state += f'<div class="error">{esc(err)}</div>'
        cells = "".join(
            f"<td class='num'>{esc(fmt(run.task_value(t.metrics, task)))}</td>"
            f"<td class='num'>{esc(fmt(run.task_value(t.test_metrics, task)))}</td>"
            for task in tasks
        )
        params = _params_text(t.spec.params)
        timing = ", ".join(f"{k} {v:.1f}" for k, v in t.timings.items() if isinstance(v, int | float))
        rows.append(
            f'<tr id="trial-{t.id}" class="{esc(t.state)}" data-model="{esc(t.output_model or "")}">'
            f"<td>{t.id}</td><td>{t.iteration}</td><td>{esc(t.action)}</td>"
            f"<td>{esc(_objects(run, t.spec.inputs))}</td>"
            f'<td class="params" title="{esc(params)}">{esc(_params_text(t.spec.params, keys.get(t.action)))}</td>'
            f"<td><code>{esc(t.output_model or '')}</code></td><td class='num'>{esc(fmt(t.score))}</td>{cells}"
            f'<td class="num" title="{esc(timing)}">{esc(_duration(_wall_s(t)))}</td><td>{state}</td></tr>'
        )
    rows.append("</tbody></table>")
    return '<div class="scroll">' + "".join(rows) + "</div>"


def _decisions(run: RunInfo) -> str:
    out = ['<ol class="decisions">']
    for t in run.trials:
        why = t.rationale or ""
        note = (
            '<span class="badge fallback">fallback</span> the agent gave no usable answer; a random valid action ran.'
            if t.fallback
            else ""
        )
        out.append(
            f'<li value="{t.id}"><a href="#trial-{t.id}">trial {t.id}</a>, iteration {t.iteration}: '
            f"<b>{esc(t.action)}</b> on {esc(_objects(run, t.spec.inputs))} {note}"
            + (f'<pre class="rationale">{esc(why)}</pre>' if why else '<p class="empty">No rationale recorded.</p>')
            + _decision_steps(run.decisions.get(t.id))
            + "</li>"
        )
    out.append("</ol>")
    return "".join(out) if run.trials else '<p class="empty">No decisions yet.</p>'


def _decision_steps(decision: dict[str, Any] | None) -> str:
    """Each call the agent made for a trial: the options with their scores, the answer, and the prompt."""
    if not decision or not (decision.get("steps") or decision.get("screen")):
        return ""
    parts = []
    screen = decision.get("screen") or []
    if screen:
        cells = []
        for k, c in enumerate(screen):
            spec = c.get("spec") or {}
            inputs = ", ".join(f"{a}={b}" for a, b in (spec.get("inputs") or {}).items())
            params = ", ".join(f"{a}={b}" for a, b in (spec.get("params") or {}).items())
            predicted = ", ".join(
                f"{t} {v:.3f} [{(c.get('low') or {}).get(t, v):.2f}, {(c.get('high') or {}).get(t, v):.2f}]"
                for t, v in (c.get("predicted") or {}).items()
            )
            mark = ' class="chosen"' if k == 0 else ""
            cells.append(
                f"<li{mark}>{esc(spec.get('action', ''))}({esc(inputs)}; {esc(params)}): objective "
                f"{esc(c.get('objective'))}; {esc(predicted)}</li>"
            )
        parts.append(f'<li><b>screened by the predictor</b><ol class="options">{"".join(cells)}</ol></li>')
    for step in decision.get("steps") or []:
        options, scores = step.get("options") or [], step.get("scores") or []
        answer = step.get("answer")
        if options:
            cells = []
            for k, option in enumerate(options):
                score = f" ({scores[k]:.3f})" if k < len(scores) and isinstance(scores[k], int | float) else ""
                mark = ' class="chosen"' if option == answer else ""
                cells.append(f"<li{mark}>{esc(option)}{esc(score)}</li>")
            body = f'<ol class="options">{"".join(cells)}</ol>'
        else:
            body = f"<pre>{esc(answer or '')}</pre>"
        error = f'<p class="error">{esc(step["error"])}</p>' if step.get("error") else ""
        parts.append(
            f"<li><b>{esc(step.get('step', ''))}</b>{body}{error}"
            f"<details><summary>prompt</summary><pre>{esc(step.get('prompt', ''))}</pre></details></li>"
        )
    cost = f"{decision.get('tokens', 0)} tokens, {float(decision.get('seconds') or 0):.1f} s"
    return (
        f'<details class="decision"><summary>how the agent chose ({len(parts)} calls, {esc(cost)})</summary>'
        f"<ol>{''.join(parts)}</ol></details>"
    )


def _judge_section(run: RunInfo) -> str:
    """Per model and judged task: the judge's agreement (Krippendorff's alpha) and cost; empty without a judge."""
    rows = []
    for model, splits in run.task_info.items():
        for split, tasks in splits.items():
            for task, info in tasks.items():
                alpha = info.get("alpha")
                shown = "-" if alpha is None or alpha != alpha else f"{alpha:.2f}"
                flag = ' <span class="badge fallback">unreliable</span>' if info.get("unreliable") else ""
                rows.append(
                    f"<tr><td><code>{esc(model)}</code></td><td>{esc(split)}</td><td>{esc(task)}</td>"
                    f"<td class='num'>{esc(shown)}{flag}</td><td class='num'>{int(info.get('judge_calls', 0))}</td>"
                    f"<td class='num'>{int(info.get('judge_tokens', 0))}</td>"
                    f"<td class='num'>{float(info.get('judge_seconds', 0)):.1f}</td></tr>"
                )
    if not rows:
        return ""
    head = "<tr><th>model</th><th>split</th><th>task</th><th>alpha</th><th>calls</th><th>tokens</th><th>s</th></tr>"
    return (
        '<section id="judge"><h2>LLM judge</h2><p class="hint">Agreement of the sampled judgments '
        "(Krippendorff's alpha: 1 when the samples agree and tell answers apart, about 0 for chance, none when "
        "every score is the same) and what judging cost; cached judgments cost no calls.</p>"
        f'<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'
        "</section>"
    )


def _memory(run: RunInfo) -> str:
    versions = run.memory_versions
    if not versions:
        return '<p class="empty">The memory was never written.</p>'
    out, previous = [], ""
    for k, v in enumerate(versions):
        text = str(v.get("text") or "")
        lines = []
        for line in difflib.ndiff(previous.splitlines(), text.splitlines()):
            tag, body = line[:2], line[2:]
            if tag == "+ ":
                lines.append(f'<span class="add">{esc(body)}</span>')
            elif tag == "- ":
                lines.append(f'<span class="del">{esc(body)}</span>')
            elif tag == "  ":
                lines.append(esc(body))
        when = datetime.fromtimestamp(float(v.get("created_at") or 0)).strftime("%Y-%m-%d %H:%M:%S")
        after = f"after trial {v['trial_id']}" if v.get("trial_id") is not None else "initial"
        is_open = " open" if k == len(versions) - 1 else ""
        out.append(
            f'<details class="memory"{is_open}><summary>version {esc(v.get("version"))} · {esc(after)} · '
            f'{esc(when)}</summary><pre class="memory-text">{chr(10).join(lines)}</pre></details>'
        )
        previous = text
    return "".join(out)


def render_report(run: RunInfo, pareto: tuple[str, str] | None = None) -> str:
    """The whole page as a string."""
    best = run.best_trial()
    body = "".join(
        [
            _header(run, best),
            '<section id="lineage"><h2>Model lineage</h2><p class="hint">Models by generation, coloured by '
            "validation score; edges show the action and its key parameters. Click a model for its trial.</p>",
            _lineage(run, best),
            "</section>",
            '<section id="curves"><h2>Scores over iterations</h2>',
            _curves(run),
            "</section>",
            '<section id="pareto"><h2>Pareto front</h2>',
            _pareto(run, pareto, best),
            "</section>",
            '<section id="answers"><h2>What the models answered</h2><p class="hint">A few validation items per '
            "task: the base model's answer beside the best model's.</p>",
            _answers(run, best),
            "</section>",
            '<section id="trials"><h2>Trials</h2>',
            _trials_table(run),
            "</section>",
            _judge_section(run),
            '<section id="decisions"><h2>Agent decisions</h2>',
            _decisions(run),
            "</section>",
            '<section id="memory"><h2>Memory as it changed</h2><p class="hint">Lines added in a version are green; '
            "removed lines are struck through.</p>",
            _memory(run),
            "</section>",
            f"<footer>Generated by lamdagent on {esc(time.strftime('%Y-%m-%d %H:%M:%S'))}.</footer>",
        ]
    )
    css, js = _asset("report.css"), _asset("report.js")
    page = (
        _asset("template.html")
        .replace("<!--CSP-->", content_security_policy(css, js))  # our constants and base64: nothing to escape
        .replace("<!--TITLE-->", esc(f"lamdagent report: {run.run_dir.name}"))
        .replace("<!--CSS-->", css)
        .replace("<!--JS-->", js)
    )
    return page.replace("<!--BODY-->", body)  # last: no text of the run is ever searched for a placeholder


def csp_hash(source: str) -> str:
    """The CSP source expression that allows exactly this inline script or style block."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(css: str, js: str) -> str:
    """Nothing loads from anywhere, and only our own style and script blocks run (by their hashes): should a
    string from the ledger ever slip through unescaped, the browser still refuses to run it."""
    return (
        f"default-src 'none'; script-src {csp_hash(js)}; style-src {csp_hash(css)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def write_report(run_dir: str | Path, pareto: tuple[str, str] | None = None) -> Path:
    """Render `RUN/report.html`; replaces any older report atomically."""
    run = load_run(run_dir)
    html = render_report(run, pareto)
    target = run.run_dir / REPORT_FILE
    write_atomic(target, html)
    return target
