"""Merges on crafted copies of the tiny Llama, checked against hand computation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from action_helpers import crafted_model, load_weights, model_ref, run_action

from lamdagent.errors import LamdagentError
from lamdagent.spec import ModelRef


def _delta(name: str, t: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed + sum(map(ord, name)))
    return torch.randn(t.shape, generator=gen) * 0.05


@pytest.fixture(scope="module")
def trio(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelRef, ModelRef, ModelRef]:
    """A base and two 'fine-tunes' of it with random task vectors."""
    root = tmp_path_factory.mktemp("trio")
    a = crafted_model(tiny_model_dir, root / "a", lambda n, t: t + _delta(n, t, 1))
    b = crafted_model(tiny_model_dir, root / "b", lambda n, t: t + _delta(n, t, 2))
    return model_ref(tiny_model_dir, "base"), model_ref(a, "ma"), model_ref(b, "mb")


def _weights(ref: ModelRef) -> dict[str, torch.Tensor]:
    return load_weights(Path(ref.path))


def _assert_close(out: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], atol: float = 1e-6) -> None:
    assert set(out) == set(expected)
    for k in expected:
        torch.testing.assert_close(out[k], expected[k], atol=atol, rtol=0, msg=k)


def test_linear_is_the_weighted_average(trio, tmp_path: Path) -> None:
    _, a, b = trio
    run_action("linear", {"models": [a, b]}, {"weight": 0.3}, tmp_path / "out")
    wa, wb = _weights(a), _weights(b)
    _assert_close(load_weights(tmp_path / "out"), {k: 0.3 * wa[k] + 0.7 * wb[k] for k in wa})


def test_task_arithmetic_adds_scaled_task_vectors(trio, tmp_path: Path) -> None:
    base, a, b = trio
    params = {"weight_first": 1.0, "weight_second": 0.5, "scaling": 0.8}
    run_action("task_arithmetic", {"models": [a, b], "base": base}, params, tmp_path / "out")
    w0, wa, wb = _weights(base), _weights(a), _weights(b)
    expected = {k: w0[k] + 0.8 * (1.0 * (wa[k] - w0[k]) + 0.5 * (wb[k] - w0[k])) for k in w0}
    _assert_close(load_weights(tmp_path / "out"), expected)


def test_ties_keeps_only_the_elected_sign(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Deltas +2 vs -1 elect +, so the result is base + 2; deltas +1 vs -3 elect -, so base - 3."""
    flip = {}

    def first(name: str, t: torch.Tensor) -> torch.Tensor:
        flip[name] = len(flip) % 2 == 1
        return t + (1.0 if flip[name] else 2.0)

    a = crafted_model(tiny_model_dir, tmp_path / "a", first)
    b = crafted_model(tiny_model_dir, tmp_path / "b", lambda n, t: t - (3.0 if flip[n] else 1.0))
    base = model_ref(tiny_model_dir, "base")
    params = {"density": 1.0, "normalize": True}
    run_action("ties", {"models": [model_ref(a, "ma"), model_ref(b, "mb")], "base": base}, params, tmp_path / "out")
    w0 = _weights(base)
    assert any(flip.values()) and not all(flip.values())
    _assert_close(load_weights(tmp_path / "out"), {k: w0[k] + (-3.0 if flip[k] else 2.0) for k in w0}, atol=1e-5)


def test_ties_trims_to_the_largest_entries(tiny_model_dir: Path, tmp_path: Path) -> None:
    """density 0.5 keeps the larger half of each task vector; with one sign everywhere nothing else is lost."""

    def ramp(t: torch.Tensor) -> torch.Tensor:
        return torch.arange(1, t.numel() + 1, dtype=t.dtype).reshape(t.shape) / t.numel()

    a = crafted_model(tiny_model_dir, tmp_path / "a", lambda n, t: t + ramp(t))
    b = crafted_model(tiny_model_dir, tmp_path / "b", lambda n, t: t + ramp(t))
    base = model_ref(tiny_model_dir, "base")
    params = {"density": 0.5, "normalize": True}
    run_action("ties", {"models": [model_ref(a, "ma"), model_ref(b, "mb")], "base": base}, params, tmp_path / "out")
    w0, out = _weights(base), load_weights(tmp_path / "out")
    for k in w0:
        r = ramp(w0[k])
        kept = torch.where(r > r.flatten().kthvalue(r.numel() - r.numel() // 2).values, r, torch.zeros_like(r))
        delta = out[k] - w0[k]
        assert (delta != 0).sum() == (kept != 0).sum(), k
        torch.testing.assert_close(delta, kept, atol=1e-5, rtol=0, msg=k)


@pytest.mark.parametrize(("t", "endpoint"), [(0.0, 0), (1.0, 1)])
def test_slerp_endpoints_return_the_models(trio, tmp_path: Path, t: float, endpoint: int) -> None:
    _, a, b = trio
    run_action("slerp", {"models": [a, b]}, {"t": t}, tmp_path / "out")
    _assert_close(load_weights(tmp_path / "out"), _weights((a, b)[endpoint]), atol=1e-5)


@pytest.mark.parametrize("method", ["linear", "task_arithmetic", "ties", "dare_ties", "slerp"])
def test_every_merge_gives_a_complete_finite_model(trio, tmp_path: Path, method: str) -> None:
    from lamdagent.actions import ACTIONS
    from lamdagent.models.loading import load_causal_lm, load_tokenizer

    base, a, b = trio
    inputs: dict = {"models": [a, b]}
    if any(s.name == "base" for s in ACTIONS.get(method).slots):
        inputs["base"] = base
    out = tmp_path / "out"
    ctx = run_action(method, inputs, {}, out)
    merged, wa = load_weights(out), _weights(a)
    assert set(merged) == set(wa)
    assert all(torch.isfinite(v).all() for v in merged.values())
    assert any(not torch.equal(merged[k], wa[k]) for k in wa)
    assert load_tokenizer(out).chat_template == load_tokenizer(Path(a.path)).chat_template
    assert load_causal_lm(out) is not None
    assert ctx.timings["merge_s"] > 0


def test_tokenizer_comes_from_the_first_model(trio, tmp_path: Path) -> None:
    _, a, b = trio
    other = crafted_model(Path(b.path), tmp_path / "b2", lambda n, t: t)
    (other / "chat_template.jinja").write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    run_action("linear", {"models": [a, model_ref(other, "mb2")]}, {}, tmp_path / "ab")
    run_action("linear", {"models": [model_ref(other, "mb2"), a]}, {}, tmp_path / "ba")
    assert (tmp_path / "ab" / "chat_template.jinja").read_text() == (Path(a.path) / "chat_template.jinja").read_text()
    assert (tmp_path / "ba" / "chat_template.jinja").read_text() == "{{ messages[0]['content'] }}"


def test_dare_ties_is_deterministic_with_its_seed(trio, tmp_path: Path) -> None:
    base, a, b = trio
    for name in ("one", "two"):
        run_action("dare_ties", {"models": [a, b], "base": base}, {"seed": 3}, tmp_path / name)
    one, two = load_weights(tmp_path / "one"), load_weights(tmp_path / "two")
    assert all(torch.equal(one[k], two[k]) for k in one)


@pytest.mark.parametrize("method", ["task_arithmetic", "ties", "dare_ties"])
def test_base_among_the_merged_models_is_rejected(trio, tmp_path: Path, method: str) -> None:
    base, a, _ = trio
    with pytest.raises(LamdagentError, match="base 'base' is also one of the merged models"):
        run_action(method, {"models": [a, base], "base": base}, {}, tmp_path / "out")
    same_path = base.model_copy(update={"id": "alias"})
    with pytest.raises(LamdagentError, match="is also one of the merged models"):
        run_action(method, {"models": [a, same_path], "base": base}, {}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_merging_a_model_with_itself_is_rejected(trio, tmp_path: Path) -> None:
    _, a, _ = trio
    with pytest.raises(LamdagentError, match="holds 'ma' twice"):
        run_action("slerp", {"models": [a, a]}, {}, tmp_path / "out")


@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        ("linear", {"weight": 1.5}, "weight"),
        ("ties", {"density": 0.0}, "density"),
        ("ties", {"density": 1.2}, "density"),
        ("dare_ties", {"scaling": -1}, "scaling"),
        ("task_arithmetic", {"weight_second": 3}, "weight_second"),
        ("slerp", {"t": -0.1}, "t"),
        ("slerp", {"weight": 0.5}, "weight"),
    ],
)
def test_out_of_bounds_merge_parameter_names_it(action: str, params: dict, field: str) -> None:
    from lamdagent.actions import ACTIONS

    with pytest.raises(LamdagentError, match=rf"params.{field}:"):
        ACTIONS.get(action).parse_params(params)
