"""Inline SVG drawings for the report: the lineage graph, line charts and the Pareto scatter.

Drawn here in a few hundred lines rather than with a plotting library so the report is one small file
with stable element classes (`node`, `edge`, `point`, `curve`) that tests and the page's script can find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from lamdagent.runinfo import feasible

# viridis at five stops: perceptually even and readable by colour-blind viewers
_STOPS = [
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
]
BEST = "#f28e2b"
FAILED = "#d62728"
MUTED = "#8c8c8c"
PALETTE = ["#4e79a7", "#e15759", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f"]


def esc(value: object) -> str:
    """Escape any value for HTML/SVG text and attributes (ledger strings may come from an LLM)."""
    return escape(str(value), quote=True)


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return "−∞" if value < 0 else ("∞" if value > 0 else "nan")
    return f"{value:.{digits}f}"


def colour(t: float) -> str:
    """Viridis colour of t in [0, 1]."""
    t = min(1.0, max(0.0, t))
    for (a, ca), (b, cb) in zip(_STOPS, _STOPS[1:], strict=False):
        if t <= b:
            f = (t - a) / (b - a)
            rgb = [round(x + (y - x) * f) for x, y in zip(ca, cb, strict=True)]
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return "#fde725"


def text_colour(fill: str) -> str:
    r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "#111" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        if v >= lo - step * 1e-9:
            ticks.append(round(v, 10))
        v += step
    return ticks


def _tick_label(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


# -- lineage graph ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphNode:
    id: str
    label: str
    depth: int
    parents: tuple[str, ...]
    score: float | None
    tooltip: str
    edge_label: str = ""  # the action that produced it, shown above its incoming edge
    edge_params: str = ""  # its key parameters, shown below the edge
    edge_tooltip: str = ""
    is_base: bool = False
    trial_id: int | None = None


@dataclass
class _Layout:
    x: dict[str, float] = field(default_factory=dict)
    y: dict[str, float] = field(default_factory=dict)
    width: float = 0
    height: float = 0


R = 15  # node radius
COL_GAP = 280
ROW_GAP = 60
MARGIN = 24
LEFT = 90  # room for a long base-model name centred under the first column
LABEL_CHARS = 36  # about 230 px at the edge-label font: fits between two columns


def _layout(nodes: Sequence[GraphNode]) -> _Layout:
    """Columns by depth; within a column nodes sit at their parents' mean height, pushed apart to not overlap."""
    lay = _Layout()
    by_depth: dict[int, list[GraphNode]] = {}
    for n in nodes:
        by_depth.setdefault(n.depth, []).append(n)
    for depth in sorted(by_depth):
        column = by_depth[depth]
        wanted = {
            n.id: (sum(lay.y[p] for p in n.parents if p in lay.y) / max(1, sum(p in lay.y for p in n.parents)))
            if any(p in lay.y for p in n.parents)
            else MARGIN + i * ROW_GAP
            for i, n in enumerate(column)
        }
        column.sort(key=lambda n: (wanted[n.id], n.trial_id or 0))
        last = -math.inf
        for n in column:
            y = max(wanted[n.id], last + ROW_GAP, MARGIN + R)
            lay.y[n.id] = y
            lay.x[n.id] = LEFT + depth * COL_GAP
            last = y
    lay.width = max(lay.x.values(), default=0) + LEFT
    lay.height = max(lay.y.values(), default=0) + R + MARGIN + 10
    return lay


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def lineage_svg(nodes: Sequence[GraphNode], best_path: set[str]) -> str:
    """The model DAG: nodes coloured by score, edges labelled by action, the best pipeline in orange."""
    lay = _layout(nodes)
    lay.width = max(lay.width, 820)  # room for the legend
    scores = [n.score for n in nodes if feasible(n.score)]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    span = hi - lo or 1.0
    by_id = {n.id: n for n in nodes}
    legend_h = 46
    out = [
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" '
        f'height="{lay.height + legend_h:.0f}" viewBox="0 0 {lay.width:.0f} {lay.height + legend_h:.0f}" '
        'role="img" aria-label="model lineage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker>'
        f'<marker id="arrow-best" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{BEST}"/></marker>'
        '<linearGradient id="score-gradient" x1="0" x2="1" y1="0" y2="0">'
        + "".join(f'<stop offset="{t:.2f}" stop-color="{colour(t)}"/>' for t, _ in _STOPS)
        + "</linearGradient></defs>",
        '<g class="edges">',
    ]
    for n in nodes:
        for k, p in enumerate(n.parents):
            if p not in by_id:
                continue
            x1, y1, x2, y2 = lay.x[p] + R, lay.y[p], lay.x[n.id] - R - 2, lay.y[n.id]
            mid = (x1 + x2) / 2
            best = n.id in best_path and p in best_path
            cls = "edge best" if best else "edge"
            marker = "arrow-best" if best else "arrow"
            out.append(
                f'<g class="{cls}" data-parent="{esc(p)}" data-child="{esc(n.id)}">'
                f"<title>{esc(n.edge_tooltip)}</title>"
                f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
                f'fill="none" marker-end="url(#{marker})"/>'
            )
            if k == 0 and n.edge_label:
                out.append(
                    f'<text class="edge-label action" x="{x2 - 8:.1f}" y="{y2 - 7:.1f}" text-anchor="end">'
                    f"{esc(_short(n.edge_label, LABEL_CHARS))}</text>"
                )
            if k == 0 and n.edge_params:
                out.append(
                    f'<text class="edge-label" x="{x2 - 8:.1f}" y="{y2 + 15:.1f}" text-anchor="end">'
                    f"{esc(_short(n.edge_params, LABEL_CHARS))}</text>"
                )
            out.append("</g>")
    out.append('</g><g class="nodes">')
    for n in nodes:
        x, y = lay.x[n.id], lay.y[n.id]
        fill = colour((n.score - lo) / span) if feasible(n.score) else "#dddddd"
        cls = "node" + (" best" if n.id in best_path else "") + (" base" if n.is_base else "")
        cls += " infeasible" if n.score is not None and math.isfinite(n.score) and not feasible(n.score) else ""
        trial = f' data-trial="{n.trial_id}"' if n.trial_id is not None else ""
        shape = (
            f'<rect x="{x - R:.1f}" y="{y - R:.1f}" width="{2 * R}" height="{2 * R}" rx="4" fill="{fill}"/>'
            if n.is_base
            else f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{R}" fill="{fill}"/>'
        )
        out.append(
            f'<g class="{cls}" data-model="{esc(n.id)}"{trial} tabindex="0"><title>{esc(n.tooltip)}</title>{shape}'
            f'<text class="score{" on-dark" if text_colour(fill) == "#fff" else ""}" x="{x:.1f}" y="{y + 3.5:.1f}" '
            'text-anchor="middle">'
            f"{esc(fmt(n.score, 2))}</text>"
            f'<text class="node-label" x="{x:.1f}" y="{y + R + 13:.1f}" text-anchor="middle">'
            f"{esc(_short(n.label, 28))}</text></g>"
        )
    out.append("</g>")
    ly = lay.height + 8
    out.append(
        f'<g class="legend" transform="translate({MARGIN},{ly:.0f})">'
        '<text x="0" y="12">validation score</text>'
        '<rect x="110" y="2" width="160" height="12" fill="url(#score-gradient)" stroke="#999" stroke-width=".5"/>'
        f'<text x="110" y="30">{esc(fmt(lo))}</text><text x="270" y="30" text-anchor="end">{esc(fmt(hi))}</text>'
        '<rect x="300" y="2" width="12" height="12" rx="2" fill="#ddd" stroke="#555"/>'
        '<text x="318" y="12">base model</text>'
        '<circle cx="406" cy="8" r="6" fill="#ddd" stroke="#555"/><text x="418" y="12">produced model</text>'
        f'<line x1="530" y1="8" x2="560" y2="8" stroke="{BEST}" stroke-width="3"/>'
        '<text x="566" y="12">best pipeline</text>'
        f'<circle cx="676" cy="8" r="6" fill="#ddd" stroke="{FAILED}" stroke-dasharray="3 2" stroke-width="1.5"/>'
        '<text x="688" y="12">breaks a constraint</text></g>'
    )
    out.append("</svg>")
    return "".join(out)


# -- charts -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float]]
    kind: str = "points"  # points | step | line
    colour: str = PALETTE[0]
    tooltips: list[str] | None = None


@dataclass
class _Frame:
    x0: float
    x1: float
    y0: float
    y1: float
    left: float = 48
    right: float = 14
    top: float = 44
    bottom: float = 40
    width: float = 420
    height: float = 270

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0 or 1) * (self.width - self.left - self.right)

    def py(self, y: float) -> float:
        return (
            self.height
            - self.bottom
            - (y - self.y0) / (self.y1 - self.y0 or 1) * (self.height - self.top - self.bottom)
        )


def _axes(f: _Frame, title: str, x_label: str, y_label: str, integer_x: bool) -> list[str]:
    out = [f'<text class="chart-title" x="{f.left - 40}" y="15">{esc(title)}</text>']
    xt = nice_ticks(f.x0, f.x1, 6)
    if integer_x:
        xt = sorted({round(v) for v in xt if abs(v - round(v)) < 1e-9})
    for v in nice_ticks(f.y0, f.y1, 5):
        y = f.py(v)
        out.append(
            f'<line class="grid" x1="{f.left}" x2="{f.width - f.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{f.left - 5}" y="{y + 3.5:.1f}" text-anchor="end">{_tick_label(v)}</text>'
        )
    for v in xt:
        x = f.px(v)
        out.append(
            f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{f.height - f.bottom}" y2="{f.height - f.bottom + 4}"/>'
            f'<text class="tick" x="{x:.1f}" y="{f.height - f.bottom + 15}" text-anchor="middle">'
            f"{_tick_label(v)}</text>"
        )
    out += [
        f'<line class="axis" x1="{f.left}" x2="{f.width - f.right}" y1="{f.height - f.bottom}" '
        f'y2="{f.height - f.bottom}"/>',
        f'<line class="axis" x1="{f.left}" x2="{f.left}" y1="{f.top}" y2="{f.height - f.bottom}"/>',
        f'<text class="axis-label" x="{(f.left + f.width - f.right) / 2:.0f}" y="{f.height - 6}" '
        f'text-anchor="middle">{esc(x_label)}</text>',
        f'<text class="axis-label" transform="translate(12,{(f.top + f.height - f.bottom) / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{esc(y_label)}</text>',
    ]
    return out


def _range(values: list[float], pad: float = 0.06) -> tuple[float, float]:
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    d = (hi - lo) * pad
    return lo - d, hi + d


def _marks(f: _Frame, s: Series) -> list[str]:
    out: list[str] = []
    pts = [(x, y) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
    if s.kind in ("step", "line") and pts:
        d = f"M{f.px(pts[0][0]):.1f},{f.py(pts[0][1]):.1f}"
        for (_, py), (x, y) in zip(pts, pts[1:], strict=False):
            if s.kind == "step":
                d += f" L{f.px(x):.1f},{f.py(py):.1f}"
            d += f" L{f.px(x):.1f},{f.py(y):.1f}"
        out.append(f'<path class="curve" d="{d}" fill="none" stroke="{s.colour}" stroke-width="2"/>')
    if s.kind == "points":
        tips = s.tooltips or [""] * len(s.points)
        for (x, y), tip in zip(s.points, tips, strict=False):
            if math.isfinite(x) and math.isfinite(y):
                out.append(
                    f'<circle class="point" cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" r="3.5" fill="{s.colour}" '
                    f'fill-opacity=".8"><title>{esc(tip)}</title></circle>'
                )
    return out


def line_chart(
    title: str,
    series: Sequence[Series],
    x_label: str = "iteration",
    y_label: str = "score",
    hlines: Sequence[tuple[float, str]] = (),
    marks: Sequence[tuple[float, str, str]] = (),
) -> str:
    """Scores over iterations: trial points, best-so-far steps and dashed base lines. `marks` are trials with
    no value on the scale, drawn along the bottom as (x, "failed" | "infeasible", tooltip)."""
    xs = [x for s in series for x, _ in s.points] + [x for x, _, _ in marks]
    ys = [y for s in series for _, y in s.points if math.isfinite(y)] + [y for y, _ in hlines if math.isfinite(y)]
    xs = [x for x in xs if math.isfinite(x)]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 - x0 < 1:
        x0, x1 = x0 - 0.5, x1 + 0.5
    f = _Frame(x0 - 0.3, x1 + 0.3, *_range(ys))
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{f.width:.0f}" height="{f.height:.0f}" '
        f'viewBox="0 0 {f.width:.0f} {f.height:.0f}" role="img" aria-label="{esc(title)}">'
    ]
    out += _axes(f, title, x_label, y_label, integer_x=True)
    for y, label in hlines:
        if math.isfinite(y):
            out.append(
                f'<line class="base-line" x1="{f.left}" x2="{f.width - f.right}" y1="{f.py(y):.1f}" '
                f'y2="{f.py(y):.1f}"><title>{esc(label)}</title></line>'
            )
    for s in series:
        out += _marks(f, s)
    for x, kind, tip in marks:
        px, py = f.px(x), f.height - f.bottom - (6 if kind == "failed" else 16)  # both visible on one iteration
        d = (
            f"M{px - 4:.1f},{py - 4:.1f} L{px + 4:.1f},{py + 4:.1f} "
            f"M{px - 4:.1f},{py + 4:.1f} L{px + 4:.1f},{py - 4:.1f}"
            if kind == "failed"
            else f"M{px - 4.5:.1f},{py - 4:.1f} L{px + 4.5:.1f},{py - 4:.1f} L{px:.1f},{py + 4:.1f} Z"
        )
        out.append(
            f'<path class="{kind}-mark" d="{d}" stroke="{FAILED}" stroke-width="2" fill="none">'
            f"<title>{esc(tip)}</title></path>"
        )
    kinds = {kind for _, kind, _ in marks}
    out.append(_chart_legend(f, [(s.name, s.colour, s.kind) for s in series], bool(hlines), kinds))
    out.append("</svg>")
    return "".join(out)


def _chart_legend(f: _Frame, entries: list[tuple[str, str, str]], base: bool, marks: set[str]) -> str:
    items = list(entries) + ([("base", MUTED, "dash")] if base else [])
    items += [(kind, FAILED, kind) for kind in ("failed", "infeasible") if kind in marks]
    out, x, y = ['<g class="chart-legend">'], f.left - 40, 31
    for name, col, kind in items:
        if kind == "points":
            mark = f'<circle cx="{x + 5:.1f}" cy="{y - 4}" r="3.5" fill="{col}"/>'
        elif kind == "infeasible":
            mark = (
                f'<path d="M{x + 0.5:.1f},{y - 8} L{x + 9.5:.1f},{y - 8} L{x + 5:.1f},{y} Z" stroke="{col}" '
                'stroke-width="2" fill="none"/>'
            )
        elif kind == "failed":
            mark = (
                f'<path d="M{x + 1:.1f},{y - 8} L{x + 9:.1f},{y} M{x + 1:.1f},{y} L{x + 9:.1f},{y - 8}" '
                f'stroke="{col}" stroke-width="2"/>'
            )
        else:
            dash = ' stroke-dasharray="4 3"' if kind == "dash" else ""
            mark = (
                f'<line x1="{x:.1f}" x2="{x + 11:.1f}" y1="{y - 4}" y2="{y - 4}" stroke="{col}" '
                f'stroke-width="2"{dash}/>'
            )
        out.append(f'{mark}<text class="tick" x="{x + 14:.1f}" y="{y}">{esc(name)}</text>')
        x += 24 + 6.2 * len(name)
    out.append("</g>")
    return "".join(out)


def pareto_svg(
    x_task: str,
    y_task: str,
    points: Sequence[tuple[float, float]],
    labels: Sequence[str],
    front: Sequence[int],
    best: str | None,
) -> str:
    """Every model on two tasks; the non-dominated ones (`front`, indices sorted by x) joined as the front."""
    fin = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
    f = _Frame(*_range([x for x, _ in fin]), *_range([y for _, y in fin]), width=460, height=320, left=54)
    out = [
        f'<svg class="chart pareto" xmlns="http://www.w3.org/2000/svg" width="{f.width:.0f}" '
        f'height="{f.height:.0f}" viewBox="0 0 {f.width:.0f} {f.height:.0f}" role="img" aria-label="Pareto front">'
    ]
    out += _axes(f, f"Pareto front: {x_task} vs {y_task} (validation)", x_task, y_task, integer_x=False)
    if front:
        d = " ".join(
            f"{'M' if k == 0 else 'L'}{f.px(points[i][0]):.1f},{f.py(points[i][1]):.1f}" for k, i in enumerate(front)
        )
        out.append(f'<path class="curve front" d="{d}" fill="none" stroke="{BEST}" stroke-width="2"/>')
    on_front = set(front)
    placed: list[tuple[float, float, float]] = []  # label boxes (left, baseline, width), to avoid overlaps
    for i, ((x, y), label) in enumerate(zip(points, labels, strict=True)):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        cls = "point" + (" front" if i in on_front else "") + (" best" if label == best else "")
        col = BEST if i in on_front else PALETTE[0]
        ring = ' stroke="#111" stroke-width="2"' if label == best else ""
        out.append(
            f'<circle class="{cls}" cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" r="{6 if label == best else 4.5}" '
            f'fill="{col}"{ring}><title>{esc(f"{label}: {x_task} {fmt(x)}, {y_task} {fmt(y)}")}</title></circle>'
        )
        if i in on_front:
            text = _short(label, 18)
            w = 6.2 * len(text)
            right = f.px(x) > f.width - 110  # keep labels near the right edge inside the frame
            left = f.px(x) - 7 - w if right else f.px(x) + 7
            base = f.py(y) - 7
            for dy in (0, 20, -13, 33, -26):
                if not any(abs(base + dy - b) < 12 and left < pl + pw and pl < left + w for pl, b, pw in placed):
                    break
            placed.append((left, base + dy, w))
            out.append(f'<text class="point-label" x="{left:.1f}" y="{base + dy:.1f}">{esc(text)}</text>')
    out.append("</svg>")
    return "".join(out)
