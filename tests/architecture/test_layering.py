"""The import rule of docs/architecture.md: a module never imports one on a higher floor.

Every `lamdagent` import in the package is read from the source (module level and inside functions), so a
lazy import that hides a back-edge is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lamdagent"

# module (or package) -> floor; the longest matching prefix decides. Same floor may import same floor.
FLOORS: dict[str, int] = {
    "lamdagent": 0,
    "lamdagent.errors": 0,
    "lamdagent.registry": 0,
    "lamdagent.paths": 0,
    "lamdagent.io": 0,
    "lamdagent.spec": 0,
    "lamdagent.hardware": 0,
    "lamdagent.secrets": 0,
    "lamdagent.checkers": 1,
    "lamdagent.toolcall": 1,
    "lamdagent.models": 1,
    "lamdagent.rundir": 1,
    "lamdagent.data": 2,
    "lamdagent.actions": 3,
    "lamdagent.evaluation": 3,
    "lamdagent.llm": 3,
    "lamdagent.ledger": 3,
    "lamdagent.benchmarks": 3,
    "lamdagent.pool": 4,
    "lamdagent.predict": 4,
    "lamdagent.execution": 4,
    "lamdagent.clock": 4,
    "lamdagent.signature": 3,
    "lamdagent.policies": 5,
    "lamdagent.config": 6,
    "lamdagent.runinfo": 6,
    "lamdagent.observer": 6,
    "lamdagent.context": 7,
    "lamdagent.console": 7,
    "lamdagent.loop": 8,
    "lamdagent.replay": 9,
    "lamdagent.report": 9,
    "lamdagent.export": 9,
    "lamdagent.trackers": 9,
    "lamdagent.plugins": 9,
    "lamdagent.arena": 9,
    "lamdagent.cli": 10,
}


def floor(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in FLOORS and (n > 1 or module == "lamdagent"):
            return FLOORS[prefix]
    raise AssertionError(f"{module} has no floor in FLOORS; add it (and to docs/architecture.md)")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lamdagent"):
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("lamdagent")]
    return out


def test_every_module_has_a_floor():
    for path in PACKAGE.rglob("*.py"):
        floor(module_name(path))


def test_no_module_imports_a_higher_floor():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        for line, target in imports(path):
            if floor(target) > floor(me):
                bad.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}: {me} (floor {floor(me)}) imports {target} "
                    f"(floor {floor(target)})"
                )
    assert not bad, "\n".join(bad)


def test_the_rule_catches_a_back_edge(tmp_path):
    """The check itself can fail: a data module importing the loop is reported."""
    assert floor("lamdagent.loop") > floor("lamdagent.data.formats")
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from lamdagent.loop import Loop\n")
    assert imports(fake) == [(2, "lamdagent.loop")]
