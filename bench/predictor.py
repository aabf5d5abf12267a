"""How well the lineage predictor (`lamdagent.predict`) ranks and scores pipelines it has not seen, on a table.

    python bench/predictor.py [TABLE] [--repeats 5] [--json OUT]

Two protocols on the table's validation split, each row hidden from the fit has its scores predicted:
- `depth`: every row at the deepest depth is hidden; the fit sees the shallower rows only (a search that has
  built depth 1 and asks what depth 2 will give);
- `random`: 20% of the non-initial rows are hidden, `--repeats` times with other draws;
- `search`: 80% of the deepest rows are hidden (a search that has run a fifth of them and screens the rest).

Methods: `lrmf` (the predictor), `mf` (the same factorisation without lineage), `parent` (the inputs' scores,
mix-weighted for merges) and `mean-parents` (their plain mean). Per task: Spearman's rank correlation and
the mean absolute error over the hidden rows, and for `lrmf` the share of hidden rows whose score lies in the
80% interval. Also the fit's CPU seconds (one thread; CPU time, so a busy machine does not inflate it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
METHODS = ("lrmf", "mf", "parent", "mean-parents")


def evaluate(table_path: Path, repeats: int, seed: int = 0) -> dict[str, Any]:
    from lamdagent.benchmarks.table import read_table
    from lamdagent.predict import LineagePredictor, parent_baseline, table_lineage

    table = read_table(table_path)
    nodes, verdicts, scores = table_lineage(table)
    depth = {r.signature: r.depth for r in table.rows.values()}
    deepest = max(depth.values())
    rng = random.Random(seed)
    movable = [s for s, d in depth.items() if d > 0]
    splits = [("depth", {s for s, d in depth.items() if d == deepest})]
    splits += [("random", set(rng.sample(movable, max(1, len(movable) // 5)))) for _ in range(repeats)]
    deep = sorted(s for s, d in depth.items() if d == deepest)
    splits += [("search", set(rng.sample(deep, len(deep) * 4 // 5))) for _ in range(repeats)]
    out: dict[str, Any] = {"rows": len(table.rows), "deepest": deepest, "protocols": {}}
    fit_seconds: list[float] = []
    for protocol, hidden in splits:
        seen = {m: v for m, v in verdicts.items() if m not in hidden}
        seen_scores = {m: s for m, s in scores.items() if m not in hidden}
        preds: dict[str, dict[str, dict[str, float]]] = {m: {} for m in METHODS}
        inside: list[bool] = []
        for method in ("lrmf", "mf"):
            t0 = time.process_time()  # CPU seconds of this process: the same on a shared machine
            predictor = LineagePredictor(use_lineage=method == "lrmf", seed=seed).fit(nodes, seen, seen_scores)
            if method == "lrmf":
                fit_seconds.append(time.process_time() - t0)
            for m in hidden:
                p = predictor.predict(m)
                preds[method][m] = p.scores
                if method == "lrmf":
                    inside += [p.low[t] <= scores[m][t] <= p.high[t] for t in p.scores if t in scores[m]]
        by_id = {n.id: n for n in nodes}
        for m in hidden:
            for method, weighted in (("parent", True), ("mean-parents", False)):
                guess = parent_baseline(by_id[m], seen_scores, weighted)
                if guess is not None:
                    preds[method][m] = guess
        entry = out["protocols"].setdefault(protocol, {"runs": 0, "hidden": 0, "methods": {}, "coverage": []})
        entry["runs"] += 1
        entry["hidden"] += len(hidden)
        entry["coverage"].append(sum(inside) / len(inside) if inside else None)
        for method in METHODS:
            for task in sorted({t for s in scores.values() for t in s}):
                pairs = [(preds[method][m][task], scores[m][task]) for m in hidden if task in preds[method].get(m, {})]
                cell = entry["methods"].setdefault(method, {}).setdefault(task, {"spearman": [], "mae": []})
                cell["spearman"].append(_spearman(pairs))
                cell["mae"].append(statistics.fmean(abs(a - b) for a, b in pairs) if pairs else None)
    out["fit_seconds"] = statistics.fmean(fit_seconds) if fit_seconds else None
    return out


def _spearman(pairs: list[tuple[float, float]]) -> float | None:
    from lamdagent.replay import spearman

    return spearman([a for a, _ in pairs], [b for _, b in pairs]) if len(pairs) >= 3 else None


def _mean(values: list[float | None]) -> str:
    vals = [v for v in values if v is not None]
    return f"{statistics.fmean(vals):.2f}" if vals else "-"


def markdown(result: dict[str, Any]) -> str:
    lines = [f"{result['rows']} rows; fit {result['fit_seconds']:.1f} CPU s (8 fits, one thread)", ""]
    lines += ["| protocol | method | task | Spearman | MAE |", "|---|---|---|---:|---:|"]
    for protocol, entry in result["protocols"].items():
        for method, tasks in entry["methods"].items():
            for task, cell in tasks.items():
                lines.append(
                    f"| {protocol} ({entry['hidden']} hidden in {entry['runs']} runs) | {method} | {task} | "
                    f"{_mean(cell['spearman'])} | {_mean(cell['mae'])} |"
                )
        lines.append(f"| {protocol} | lrmf 80% interval coverage | | {_mean(entry['coverage'])} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", nargs="?", default=str(REPO / "benchmarks" / "pipebench-smollm2.jsonl.gz"))
    p.add_argument("--repeats", type=int, default=5, help="random 20%% hold-outs")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    result = evaluate(Path(args.table), args.repeats)
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
