"""Predict a model's scores before it exists: lineage-regularised matrix factorisation over per-item verdicts.

After LRMF (arXiv 2504.19811): each model u has an embedding m_u, each evaluation item i an embedding x_i and a
bias b_i, and P(item i right for model u) = σ(m_u · x_i + b_i), fitted to the 0/1 verdicts the evaluator keeps.
Lineage ties the models together: a model made by an action is pulled toward what its inputs and the action
imply, m_child ≈ Σ_p w_p m_p + Σ_f d_f, with w the share of each input (1 for the model a fine-tune starts
from; the mix weights of a linear or SLERP merge; equal shares for the merged models of a task-vector merge)
and d_f a learned offset per feature of the action (its type, its dataset, each parameter value). With the
offsets at zero the penalty is the paper's graph Laplacian over lineage edges; with them, a model that does
not exist yet has a prediction at once (the cold start): its embedding is the right-hand side.

A task's score is read from the predicted item probabilities through a per-task straight line fitted on the
observed models (for accuracy tasks the line is the identity; for a metric counted over instructions rather
than prompts it is not). The interval is the spread of an ensemble fitted on bootstrap resamples of the
observed models, widened by the in-sample error of the score line and by the binomial noise of a score
measured on the task's items (a real measurement of the model would move by whole items).

Baselines for comparison (`bench/predictor.py`): `parent` (the input's score, or the mix-weighted inputs'
scores of a merge), `mean-parents` (their plain mean) and `mf` (the same factorisation without lineage, which
for a model without data can only predict the items' average).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamdagent.errors import LamdagentError

Verdicts = dict[str, list[float]]  # task -> 0/1 per item, in a fixed item order per task
Scores = dict[str, dict[str, float]]  # model -> task -> its primary metric


@dataclass(frozen=True)
class Node:
    """A model in a lineage: its inputs with their shares and the features of the action that made it."""

    id: str
    parents: tuple[tuple[str, float], ...] = ()
    features: tuple[str, ...] = ()


@dataclass
class Prediction:
    """Per task: the predicted score and an interval of the given coverage."""

    scores: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    coverage: float

    def text(self) -> str:
        return ", ".join(f"{t} {v:.3f} [{self.low[t]:.2f}, {self.high[t]:.2f}]" for t, v in self.scores.items())


@dataclass
class _Fit:
    """One fitted factorisation: embeddings of observed models, items, feature offsets."""

    models: dict[str, Any]  # id -> embedding (torch tensor)
    items: Any
    bias: Any
    offsets: dict[str, Any]
    lines: dict[str, tuple[float, float]] = field(default_factory=dict)  # task -> (intercept, slope)


class LineagePredictor:
    """Fit on observed models (their verdicts and scores) and a lineage; predict any node of that lineage."""

    def __init__(
        self,
        dim: int = 6,
        lineage: float = 1.0,
        l2: float = 1e-3,
        steps: int = 300,
        lr: float = 0.05,
        ensemble: int = 8,
        coverage: float = 0.8,
        use_lineage: bool = True,
        seed: int = 0,
    ) -> None:
        self.dim, self.lineage, self.l2, self.steps, self.lr = dim, lineage, l2, steps, lr
        self.ensemble, self.coverage, self.use_lineage, self.seed = ensemble, coverage, use_lineage, seed
        self.nodes: dict[str, Node] = {}
        self.tasks: list[str] = []
        self.residual: dict[str, float] = {}
        self._fits: list[_Fit] = []

    # -- fitting -----------------------------------------------------------------------------------------
    def fit(
        self,
        nodes: Sequence[Node],
        verdicts: Mapping[str, Verdicts],
        scores: Mapping[str, Mapping[str, float]],
    ) -> LineagePredictor:
        """`verdicts`: observed model -> task -> 0/1 per item; `scores`: observed model -> task -> its metric."""
        import torch

        self.nodes = {n.id: n for n in nodes}
        observed = [m for m in verdicts if m in self.nodes]
        if len(observed) < 2:
            raise LamdagentError(f"predict: {len(observed)} models with verdicts; fit needs at least 2")
        self.tasks = sorted({t for m in observed for t in verdicts[m]})
        widths = {t: max(len(verdicts[m].get(t, [])) for m in observed) for t in self.tasks}
        self._columns = {t: (sum(widths[u] for u in self.tasks[:k]), widths[t]) for k, t in enumerate(self.tasks)}
        n_items = sum(widths.values())
        y = torch.zeros(len(observed), n_items)
        mask = torch.zeros(len(observed), n_items)
        for r, m in enumerate(observed):
            for t, values in verdicts[m].items():
                start, width = self._columns[t]
                if len(values) == width:  # a model scored on fewer items than the others is left out of the task
                    y[r, start : start + width] = torch.tensor(values, dtype=torch.float32)
                    mask[r, start : start + width] = 1.0
        rng = random.Random(self.seed)
        self._fits = []
        with _one_thread(torch):
            for e in range(self.ensemble):
                rows = list(range(len(observed))) if e == 0 else [rng.randrange(len(observed)) for _ in observed]
                self._fits.append(self._fit_one(observed, rows, y, mask, e))
        self._fit_lines(observed, scores)
        return self

    def _fit_one(self, observed: list[str], rows: list[int], y: Any, mask: Any, member: int) -> _Fit:
        import torch

        gen = torch.Generator().manual_seed(self.seed * 7919 + member)
        weight = torch.zeros(len(observed))
        for r in rows:
            weight[r] += 1.0
        features = sorted({f for n in self.nodes.values() for f in n.features})
        M = (0.1 * torch.randn(len(observed), self.dim, generator=gen)).requires_grad_()
        X = (0.1 * torch.randn(y.shape[1], self.dim, generator=gen)).requires_grad_()
        b = torch.zeros(y.shape[1], requires_grad=True)
        D = torch.zeros(len(features), self.dim, requires_grad=True)
        row_of = {m: r for r, m in enumerate(observed)}
        f_of = {f: k for k, f in enumerate(features)}
        children = [
            n for n in self.nodes.values() if n.id in row_of and n.parents and all(p in row_of for p, _ in n.parents)
        ]
        # each child's target as matrices: target = W @ M + F @ D (W: input shares, F: the action's features)
        W = torch.zeros(len(children), len(observed))
        F = torch.zeros(len(children), len(features))
        for k, n in enumerate(children):
            for p, w in n.parents:
                W[k, row_of[p]] += w
            for f in n.features:
                F[k, f_of[f]] = 1.0
        child_rows = torch.tensor([row_of[n.id] for n in children], dtype=torch.long)
        opt = torch.optim.Adam([M, X, b, D], lr=self.lr)
        w_cells = mask * weight[:, None]
        total = float(w_cells.sum())
        for _ in range(self.steps):
            opt.zero_grad()
            logits = M @ X.T + b
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=w_cells, reduction="sum")
            loss = bce / total + self.l2 * (M.pow(2).sum() + X.pow(2).sum() + D.pow(2).sum())
            if self.use_lineage and children:
                pull = (M[child_rows] - W @ M - F @ D).pow(2).sum(1).mean()
                loss = loss + self.lineage * pull
            loss.backward()
            opt.step()
        return _Fit(
            models={m: M[r].detach() for m, r in row_of.items()},
            items=X.detach(),
            bias=b.detach(),
            offsets={f: D[k].detach() for f, k in f_of.items()},
        )

    def _fit_lines(self, observed: list[str], scores: Mapping[str, Mapping[str, float]]) -> None:
        """Per task and fit, the straight line from mean item probability to the task's metric."""
        self.residual = {}
        for task in self.tasks:
            errors: list[float] = []
            for fit in self._fits:
                pairs = [
                    (self._rate(fit, fit.models[m], task), float(scores[m][task]))
                    for m in observed
                    if task in scores.get(m, {})
                ]
                fit.lines[task] = _line(pairs)
                a, s = fit.lines[task]
                errors += [(a + s * x - y) ** 2 for x, y in pairs]
            self.residual[task] = math.sqrt(statistics.fmean(errors)) if errors else 0.0

    # -- predicting --------------------------------------------------------------------------------------
    def embedding(self, fit: _Fit, node_id: str, seen: frozenset[str] = frozenset()) -> Any:
        """A node's embedding: fitted where observed; else what its inputs and action imply (the cold start)."""
        import torch

        if node_id in fit.models:
            return fit.models[node_id]
        node = self.nodes.get(node_id)
        if node is None or node_id in seen:
            return torch.zeros(self.dim)  # unknown: the origin, i.e. the items' average
        if not self.use_lineage or not node.parents:
            return torch.zeros(self.dim)
        out = sum(w * self.embedding(fit, p, seen | {node_id}) for p, w in node.parents)
        for f in node.features:
            if f in fit.offsets:
                out = out + fit.offsets[f]
        return out

    def _rate(self, fit: _Fit, emb: Any, task: str) -> float:
        import torch

        start, width = self._columns[task]
        logits = fit.items[start : start + width] @ emb + fit.bias[start : start + width]
        return float(torch.sigmoid(logits).mean())

    def predict(self, node: Node | str) -> Prediction:
        """Per-task scores of a node (add an unknown node first with `add`), with the ensemble's interval."""
        if not self._fits:
            raise LamdagentError("predict: fit the predictor first")
        node_id = node if isinstance(node, str) else node.id
        if not isinstance(node, str):
            self.nodes[node.id] = node
        per_fit: dict[str, list[float]] = {t: [] for t in self.tasks}
        for fit in self._fits:
            emb = self.embedding(fit, node_id)
            for task in self.tasks:
                a, s = fit.lines[task]
                per_fit[task].append(a + s * self._rate(fit, emb, task))
        z = statistics.NormalDist().inv_cdf(0.5 + self.coverage / 2)
        scores, low, high = {}, {}, {}
        for task, values in per_fit.items():
            centre = per_fit[task][0]
            spread = statistics.pstdev(values) if len(values) > 1 else 0.0
            p = min(1.0, max(0.0, centre))
            sampling = p * (1 - p) / max(1, self._columns[task][1])  # a measured score moves by whole items too
            half = z * math.sqrt(spread**2 + self.residual.get(task, 0.0) ** 2 + sampling)
            scores[task] = min(1.0, max(0.0, centre))
            low[task], high[task] = max(0.0, centre - half), min(1.0, centre + half)
        return Prediction(scores, low, high, self.coverage)


def parent_baseline(
    node: Node, scores: Mapping[str, Mapping[str, float]], weighted: bool = True
) -> dict[str, float] | None:
    """The inputs' scores: share-weighted (`parent`) or a plain mean (`mean-parents`); None without scored inputs."""
    known = [(scores[p], w) for p, w in node.parents if p in scores]
    if not known:
        return None
    tasks = set.intersection(*(set(s) for s, _ in known))
    out = {}
    for task in tasks:
        if weighted and sum(w for _, w in known) > 0:
            total = sum(w for _, w in known)
            out[task] = sum(s[task] * w for s, w in known) / total
        else:
            out[task] = statistics.fmean(s[task] for s, _ in known)
    return out


def _line(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares intercept and slope; the identity when the points cannot fix a slope."""
    if len(pairs) < 3:
        return (0.0, 1.0)
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var < 1e-9:
        return (my - mx, 1.0)
    slope = sum((x - mx) * (y - my) for x, y in pairs) / var
    return (my - slope * mx, slope)


class _one_thread:
    """Torch on one thread while fitting: the matrices are tiny, and trials may be running beside it."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def __enter__(self) -> None:
        self.before = self.torch.get_num_threads()
        self.torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        self.torch.set_num_threads(self.before)


# -- a candidate written as text ---------------------------------------------------------------------------
def parse_action(text: str) -> tuple[str, dict[str, str | list[str]], dict[str, Any]]:
    """`sft(model=m1, data=tool_sft; learning_rate=3e-4)` (as runs print specs) as action, inputs and params;
    a one-line error naming what is wrong otherwise."""
    import json

    from lamdagent.signature import split_top

    head, paren, rest = text.strip().partition("(")
    if not paren or not rest.endswith(")") or not head.strip().isidentifier():
        raise LamdagentError(f"--action {text!r}: write it as ACTION(slot=id, ...; param=value, ...)")
    parts = split_top(rest[:-1], ";")
    if len(parts) > 2:
        raise LamdagentError(f"--action {text!r}: one ';' separates the inputs from the parameters")
    inputs: dict[str, str | list[str]] = {}
    params: dict[str, Any] = {}
    for target, chunk in ((inputs, parts[0]), (params, parts[1] if len(parts) == 2 else "")):
        for pair in split_top(chunk, ","):
            if not pair.strip():
                continue
            key, eq, value = (x.strip() for x in pair.partition("="))
            if not eq or not key:
                raise LamdagentError(f"--action {text!r}: {pair.strip()!r} is not NAME=VALUE")
            if target is inputs:
                inner = value[1:-1] if value.startswith("[") and value.endswith("]") else None
                inputs[key] = [v.strip() for v in split_top(inner, ",")] if inner is not None else value
            else:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
    return head.strip(), inputs, params


# -- lineages from a pipeline table ------------------------------------------------------------------------
def node_of(
    action: str | None, params: Mapping[str, Any], parents: Sequence[str], data: Sequence[str], id: str
) -> Node:
    """A node from what made the model: its action, parameters, input models (in slot order) and datasets."""
    from lamdagent.actions.base import ACTIONS

    if action is None:
        return Node(id)
    shares: tuple[float, ...] | None = None
    if action in ACTIONS and len(parents) > 1:
        shares = ACTIONS.get(action).mix_weights(params)
    if shares is None:
        merged = 2 if len(parents) > 2 else len(parents)  # a task-vector merge: the merged models, not the base
        shares = tuple([1.0 / merged] * merged)
    features = [f"action={action}", *(f"data={d}" for d in data)]
    features += [f"{action}.{k}={v}" for k, v in sorted(params.items()) if isinstance(v, int | float | str | bool)]
    pairs = tuple((p, float(w)) for p, w in zip(parents, shares, strict=False))
    return Node(id, pairs, tuple(features))


def spec_node(spec: Any, models: Collection[str], node_id: str) -> Node:
    """A node for an action spec of a run: its inputs that are models (in slot order) are the parents, the
    others its datasets."""
    ids = spec.input_ids()
    parents = [i for i in ids if i in models]
    return node_of(spec.action, spec.params, parents, [i for i in ids if i not in models], node_id)


def table_lineage(table: Any, split: str = "validation") -> tuple[list[Node], dict[str, Verdicts], Scores]:
    """Every row of a pipeline table as a node, with its verdicts and primary scores on `split`."""
    from lamdagent.signature import signature_inputs

    nodes: list[Node] = []
    verdicts: dict[str, Verdicts] = {}
    scores: Scores = {}
    for sig, row in table.rows.items():
        inputs = signature_inputs(sig)
        data = [v for k, v in sorted(inputs.items()) if isinstance(v, str) and v not in row.parents]
        nodes.append(node_of(row.action, row.params, row.parents, data, sig))
        if row.items.get(split):
            verdicts[sig] = {t: list(v) for t, v in row.items[split].items()}
        metrics = row.scores.get(split, {})
        scores[sig] = {t: float(metrics[t][table.primary_metric(t, metrics[t])]) for t in metrics}
    return nodes, verdicts, scores
