"""A corpus of bad inputs through the real command: each gives exit code 2 and one line that names the field or
file and the fix, and none leaves anything behind in the run directory.

Cases marked `wiring` need the run-directory checks (`lamdagent.rundir`) and the dataset pre-check
(`lamdagent.data.formats.dataset_rows`) called from the command before a run is claimed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import tiny_config

from lamdagent import rundir
from lamdagent.cli import main
from lamdagent.models.embedded import EMBEDDED_NAME

KEY = "sk-proj-Zx81Qw0Lp4Rt7Yu2Io9PaSdF"
NO_MODEL = "/nonexistent/lamdagent-test-model"  # fails fast should a run ever get past the check under test


def base_config(model: str = EMBEDDED_NAME) -> dict[str, Any]:
    """A valid config (checked by `test_the_base_config_is_valid`): each case breaks exactly one thing."""
    return tiny_config(
        Path(model),
        actions=["sft", "dpo", "linear"],
        params={"sft": {"lora_r": 8, "max_steps": 1}},
        grids={"sft": {"learning_rate": [1e-4, 2e-4]}, "linear": {"weight": [0.3, 0.7]}},
        budget={"iterations": 1},
    ) | {"base_models": [model]}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run `lamdagent ARGV`; return the exit code and stderr, which must be at most one line."""
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) <= 1, err
    return code, err


def snapshot(path: Path) -> dict[str, bytes] | None:
    """Every file under `path` with its bytes (None when `path` does not exist)."""
    if not path.exists():
        return None
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else b"/" for p in sorted(path.rglob("*"))}


def write_yaml(path: Path, value: Any) -> Path:
    path.write_text(yaml.safe_dump(value, sort_keys=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------ configs
def edit(fn: Callable[[dict[str, Any]], None]) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        cfg = base_config()
        fn(cfg)
        return cfg

    return make


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit that sets a dotted path (`datasets.0.name`), creating mappings on the way."""

    def fn(cfg: dict[str, Any]) -> None:
        node: Any = cfg
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return fn


CONFIG_CASES: list[Any] = [
    # dataset names become file names
    pytest.param(
        edit(_set("datasets.0.name", "../evil")), ["datasets[0].name '../evil' is not a valid"], id="name-dotdot-slash"
    ),
    pytest.param(edit(_set("datasets.0.name", "/etc/passwd")), ["datasets[0].name '/etc/passwd'"], id="name-absolute"),
    pytest.param(edit(_set("datasets.1.name", "a..b")), ["datasets[1].name 'a..b'", "no '..'"], id="name-inner-dotdot"),
    pytest.param(edit(_set("datasets.0.name", "has space")), ["datasets[0].name 'has space'"], id="name-space"),
    pytest.param(edit(_set("datasets.0.name", ".hidden")), ["datasets[0].name '.hidden'"], id="name-hidden"),
    pytest.param(edit(_set("datasets.0.name", "sub/dir")), ["datasets[0].name 'sub/dir'"], id="name-separator"),
    pytest.param(edit(_set("datasets.0.name", "x" * 65)), ["datasets[0].name", "at most 64"], id="name-too-long"),
    # grids and params against each action's parameter model
    pytest.param(
        edit(_set("grids.sft.learning_rate", [])),
        ["grids.sft.learning_rate: the list of values is empty"],
        id="grid-empty",
    ),
    pytest.param(
        edit(_set("grids.sft.learning_rate", ["abc"])),
        ["grids.sft.learning_rate[0]: 'abc' is not valid"],
        id="grid-not-a-number",
    ),
    pytest.param(
        edit(_set("grids.sft.learning_rate", [1e-4, 0])),
        ["grids.sft.learning_rate[1]: 0 is not valid", "greater than 0"],
        id="grid-zero-lr",
    ),
    pytest.param(
        edit(_set("grids.linear.weight", [0.5, 1.5])),
        ["grids.linear.weight[1]: 1.5 is not valid"],
        id="grid-out-of-range",
    ),
    pytest.param(
        edit(_set("grids.sft.lora_rr", [8, 16])),
        ["grids.sft.lora_rr: 'sft' has no parameter 'lora_rr'; valid:", "lora_r"],
        id="grid-typo",
    ),
    pytest.param(
        edit(_set("params.sft.lora_rr", 8)),
        ["params.sft.lora_rr: 'sft' has no parameter 'lora_rr'; valid:"],
        id="param-typo",
    ),
    pytest.param(
        edit(_set("params.sft.batch_size", 0)),
        ["params.sft.batch_size:", "see `lamdagent actions`"],
        id="param-out-of-range",
    ),
    pytest.param(edit(_set("params.sft.max_steps", 0)), ["params.sft.max_steps:", "must be -1"], id="param-validator"),
    pytest.param(
        edit(_set("grids.ties", {"density": [0.5]})),
        ["grids.ties: action 'ties' is not enabled"],
        id="grid-action-not-enabled",
    ),
    pytest.param(
        edit(_set("params.slerp", {"t": 0.5})),
        ["params.slerp: action 'slerp' is not enabled"],
        id="param-action-not-enabled",
    ),
    pytest.param(
        edit(_set("grids.sft.learning_rate", [1e-4, 0.0001])),
        ["grids.sft.learning_rate[1]", "repeats"],
        id="grid-repeat",
    ),
    pytest.param(
        edit(_set("grids.sft.lora_r", [4, 8])), ["grids.sft.lora_r: also fixed in params.sft"], id="grid-and-param"
    ),
    pytest.param(
        edit(_set("actions", ["sft", "sftt"])), ["actions[1]: unknown action 'sftt'; known:"], id="action-unknown"
    ),
    pytest.param(
        edit(_set("actions", ["sft", "dpo", "linear", "sft"])), ["actions[3]: 'sft' is listed twice"], id="action-twice"
    ),
    # remote code, anywhere
    pytest.param(
        edit(_set("params.sft.trust_remote_code", True)),
        ["params.sft.trust_remote_code: lamdagent never runs code"],
        id="trc-params",
    ),
    pytest.param(edit(_set("grids.sft.trust_remote_code", [True])), ["grids.sft.trust_remote_code"], id="trc-grid"),
    pytest.param(
        edit(_set("tasks.0.options.trust_remote_code", True)), ["tasks[0].options.trust_remote_code"], id="trc-task"
    ),
    pytest.param(
        edit(_set("policy", {"name": "llm", "llm": {"trust_remote_code": "yes"}})),
        ["policy.llm.trust_remote_code"],
        id="trc-policy",
    ),
    # credentials, anywhere
    pytest.param(
        edit(_set("policy", {"name": "llm", "llm": {"backend": "openai", "model": "m", "api_key": "abc"}})),
        ["policy.llm.api_key: a config may not hold a credential", "api_key_env"],
        id="cred-api-key",
    ),
    pytest.param(
        edit(_set("tasks.0.options.hf_token", "abc")),
        ["tasks[0].options.hf_token: a config may not hold a credential"],
        id="cred-hf-token",
    ),
    pytest.param(
        edit(_set("policy", {"name": "llm", "llm": {"apiKey": "abc"}})), ["policy.llm.apiKey"], id="cred-camel-case"
    ),
    pytest.param(
        edit(_set("tasks.0.options.auth", [{"user": "me", "Password": "pw"}])),
        ["tasks[0].options.auth[0].Password"],
        id="cred-password-in-list",
    ),
    pytest.param(
        edit(_set("policy", {"name": "llm", "llm": {"headers": {"Authorization": "x"}}})),
        ["policy.llm.headers.Authorization"],
        id="cred-authorization",
    ),
    pytest.param(
        edit(_set("datasets.0.description", f"made with {KEY}")),
        ["datasets[0].description: the value looks like an API key"],
        id="cred-openai-value",
    ),
    pytest.param(
        edit(_set("datasets.0.source", "hf_QwErTy12345UiOpAsDfGhJkL")),
        ["datasets[0].source: the value looks like an API key"],
        id="cred-hf-value",
    ),
    pytest.param(
        edit(_set("policy", {"name": "llm", "llm": {"extra_headers": {"X-Gateway": "Bearer abcdef123456"}}})),
        ["policy.llm.extra_headers.X-Gateway"],
        id="cred-bearer-value",
    ),
    pytest.param(
        edit(
            _set(
                "policy",
                {
                    "name": "llm",
                    "llm": {"backend": "openai", "model": "m", "base_url": "http://me:pw@127.0.0.1:8000/v1"},
                },
            )
        ),
        ["policy.llm.base_url: the URL carries a user name or password"],
        id="cred-url-userinfo",
    ),
    pytest.param(
        edit(_set("datasets.0.source", "https://u:p@data.example.com/x.jsonl")),
        ["datasets[0].source: the URL carries"],
        id="cred-url-in-source",
    ),
    pytest.param(
        edit(_set("policy", {"name": "llm", "llm": {"backend": "openai", "model": "m", "api_key_env": KEY}})),
        ["policy.llm.api_key_env: the value looks like an API key"],
        id="cred-key-in-key-env",
    ),
    pytest.param(
        edit(_set("policy", {"name": "llm", "llm": {"backend": "openai", "model": "m", "api_key_env": "my key"}})),
        ["policy.llm.api_key_env: 'my key' is not an environment variable name"],
        id="key-env-not-a-name",
    ),
    # the models' own checks still speak one line
    pytest.param(edit(_set("budgte", {})), ["budgte"], id="unknown-top-level-key"),
    pytest.param(edit(_set("data_scale", 2)), ["data_scale"], id="data-scale-range"),
]


@pytest.mark.parametrize(("make", "expected"), CONFIG_CASES)
def test_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[], dict], expected: list[str]
) -> None:
    config = write_yaml(tmp_path / "run.yaml", make())
    run = tmp_path / "run"
    for argv in (["config", str(config)], ["run", str(config), "--run-dir", str(run)]):
        code, err = cli(capsys, *argv)
        assert code == 2, err
        for part in expected:
            assert part in err, (part, err)
        assert not run.exists()  # nothing is written before the config is found valid
    assert KEY not in err


YAML_CASES = [
    pytest.param(
        "budget: {iterations: 1}\ntasks: []\nbudget: {iterations: 2}\n",
        ["line 3: key 'budget' appears twice", "also on line 1"],
        id="yaml-duplicate-top",
    ),
    pytest.param(
        "datasets:\n  - name: a\n    kind: sft\n    name: b\n    source: builtin:tool_use\n",
        ["line 4: key 'name' appears twice in the same mapping (also on line 2); keep one"],
        id="yaml-duplicate-nested",
    ),
    pytest.param("tasks: [\n  {name: x\n", ["not valid YAML"], id="yaml-syntax"),
    pytest.param("- a\n- b\n", ["the top level must be a mapping"], id="yaml-top-level-list"),
    pytest.param("tasks:\n\t- name: x\n", ["line 2", "not valid YAML"], id="yaml-tab"),
]


@pytest.mark.parametrize(("text", "expected"), YAML_CASES)
def test_bad_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: list[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text, encoding="utf-8")
    code, err = cli(capsys, "run", str(config), "--run-dir", str(tmp_path / "run"))
    assert code == 2 and str(config) in err
    for part in expected:
        assert part in err, (part, err)
    assert not (tmp_path / "run").exists()


def test_config_file_missing_or_not_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "config", str(tmp_path / "nope.yaml"))
    assert code == 2 and "not found" in err
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, err = cli(capsys, "run", str(binary), "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "not UTF-8 text; save the config as UTF-8" in err
    assert not (tmp_path / "run").exists()


def test_the_base_config_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The corpus' cases fail for the one thing each breaks; credential-looking words in ordinary keys pass."""
    cfg = base_config()
    cfg["policy"] = {
        "name": "llm",
        "llm": {"backend": "openai", "model": "m", "api_key_env": "MY_KEY", "max_tokens": 64},
    }
    cfg["datasets"][0]["description"] = "sk-learn-compatible tokenizer; max_tokens 64"
    code, err = cli(capsys, "config", str(write_yaml(tmp_path / "ok.yaml", cfg)))
    assert code == 0, err


def test_another_policy_on_a_printed_config_drops_the_options_only_the_first_declares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lamdagent config > c.yaml` lists every option of the llm policy; `--policy random` on the copy runs."""
    capsys.readouterr()
    assert main(["config"]) == 0
    printed = capsys.readouterr().out
    assert "mode:" in printed
    copy = tmp_path / "demo.yaml"
    copy.write_text(printed)
    assert main(["config", str(copy), "--policy", "random"]) == 0
    section = yaml.safe_load(capsys.readouterr().out)["policy"]
    assert section["name"] == "random" and "mode" not in section and section["llm"]  # shared options stay
    # the same policy named again keeps checking the file's options: a misspelt one is still refused
    cfg = yaml.safe_load(printed)
    cfg["policy"]["modee"] = "json"
    code, err = cli(capsys, "config", str(write_yaml(tmp_path / "typo.yaml", cfg)), "--policy", "llm")
    assert code == 2 and "modee" in err


def test_a_combination_the_parameter_model_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each grid value passes alone; one pair does not, and the config says which."""
    from pydantic import Field, model_validator

    from lamdagent.actions import ACTIONS, ActionParams
    from lamdagent.config import check_actions, default_config
    from lamdagent.errors import LamdagentError

    class PairParams(ActionParams):
        a: float = Field(0.5, ge=0, le=1, description="first share")
        b: float = Field(0.5, ge=0, le=1, description="second share")

        @model_validator(mode="after")
        def _sum(self) -> PairParams:
            if self.a + self.b > 1:
                raise ValueError("a + b must be at most 1")
            return self

    pair = type("Pair", (), {"name": "pair", "Params": PairParams, "slots": ()})
    monkeypatch.setitem(ACTIONS._items, "pair", pair)
    cfg = default_config().model_copy(
        update={"actions": ["sft", "pair"], "grids": {"pair": {"a": [0.2, 0.7], "b": [0.3, 0.6]}}, "params": {}}
    )
    with pytest.raises(LamdagentError) as info:
        check_actions(cfg, "c.yaml")
    assert str(info.value) == (
        "c.yaml: grids.pair: the combination a=0.7, b=0.6 with params.pair is not valid: a + b must be at most 1; "
        "change a grid value or a fixed parameter"
    )


# ------------------------------------------------------------------ run directories
def claimed_run(path: Path, config: dict[str, Any] | None = None) -> Path:
    """A run directory as a run leaves it: marker, lock file and a ledger holding its config."""
    from lamdagent.ledger import Ledger

    with rundir.claim(path), Ledger(path) as ledger:
        ledger.set_meta("config", config or base_config())
    return path


@pytest.fixture
def good_config(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "good.yaml", base_config(NO_MODEL))


def test_run_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_config: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code, err = cli(capsys, "run", str(good_config), "--run-dir", str(target))
    assert code == 2 and f"--run-dir {target} is a file" in err and "pick an empty or new --run-dir" in err
    assert target.read_text() == "mine"


def test_run_dir_with_foreign_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_config: Path) -> None:
    theirs = tmp_path / "theirs"
    (theirs / "data").mkdir(parents=True)
    (theirs / "data" / "tool_sft.jsonl").write_text('{"mine": true}\n')
    before = snapshot(theirs)
    code, err = cli(capsys, "run", str(good_config), "--run-dir", str(theirs))
    assert code == 2 and "holds files that are not a lamdagent run; pick an empty or new --run-dir" in err
    assert snapshot(theirs) == before


def test_run_dir_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_config: Path) -> None:
    run = claimed_run(tmp_path / "run", base_config(NO_MODEL))
    with rundir.claim(run, resume=True):  # another `lamdagent run` holds it (flock: per open file, so also here)
        before = snapshot(run)
        code, err = cli(capsys, "run", str(good_config), "--run-dir", str(run), "--resume")
        assert code == 2, err
        assert (
            f"is in use by another lamdagent process (pid {os.getpid()}); wait for it or use another --run-dir" in err
        )
        assert snapshot(run) == before


def test_run_dir_that_holds_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_config: Path) -> None:
    run = claimed_run(tmp_path / "run", base_config(NO_MODEL))
    before = snapshot(run)
    code, err = cli(capsys, "run", str(good_config), "--run-dir", str(run))
    assert code == 2 and "already holds a run; continue it with --resume or pick a new --run-dir" in err
    assert snapshot(run) == before


def test_resume_of_a_missing_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_config: Path) -> None:
    code, err = cli(capsys, "run", str(good_config), "--run-dir", str(tmp_path / "gone"), "--resume")
    assert code == 2 and "holds no run" in err and f"lamdagent run --run-dir {tmp_path / 'gone'}" in err
    assert not (tmp_path / "gone").exists()


def test_resume_of_a_dir_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_config: Path
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    code, err = cli(capsys, "run", str(good_config), "--run-dir", str(theirs), "--resume")
    assert code == 2 and "holds no run" in err
    assert snapshot(theirs) == {"notes.txt": b"mine"}


def corrupt_ledger(path: Path, content: bytes = b"not a database at all " * 64) -> Path:
    path.mkdir(parents=True)
    (path / rundir.MARKER).write_text(json.dumps({"format": 1, "created_at": "2026-01-01T00:00:00+00:00"}))
    (path / "ledger.sqlite").write_bytes(content)
    return path


@pytest.mark.parametrize(
    "command",
    [
        "status",
        "report",
        "export",
        "resume",
    ],
)
def test_corrupt_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_config: Path, command: str) -> None:
    run = corrupt_ledger(tmp_path / "run")
    before = snapshot(run)
    argv = {
        "status": ["status", str(run)],
        "report": ["report", str(run)],
        "export": ["export", str(run), str(tmp_path / "out")],
        "resume": ["run", str(good_config), "--run-dir", str(run), "--resume"],
    }[command]
    code, err = cli(capsys, *argv)
    assert code == 2 and "ledger.sqlite is not an SQLite database (corrupt or overwritten); restore" in err
    assert snapshot(run) == before and not (tmp_path / "out").exists()


def test_ledger_of_another_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with sqlite3.connect(run / "ledger.sqlite") as db:
        db.execute("CREATE TABLE notes (t TEXT)")
    code, err = cli(capsys, "report", str(run))
    assert code == 2 and "is an SQLite file but not a lamdagent ledger" in err
    assert not (run / "report.html").exists()


@pytest.mark.parametrize("command", ["status", "report", "export"])
@pytest.mark.parametrize("kind", ["missing", "foreign", "file"])
def test_reading_commands_on_what_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str
) -> None:
    target = tmp_path / "target"
    if kind == "foreign":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    elif kind == "file":
        target.write_text("mine")
    before = snapshot(target)
    argv = [command, str(target)] + ([str(tmp_path / "out")] if command == "export" else [])
    code, err = cli(capsys, *argv)
    assert code == 2, err
    assert ("holds no run" in err) if kind != "file" else ("is a file" in err or "holds no run" in err), err
    assert str(target) in err
    assert snapshot(target) == before and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers import sample_run

    return sample_run().build_sample_run(tmp_path_factory.mktemp("bad-inputs") / "run", model_dir=tiny_model_dir)


@pytest.mark.parametrize("where", ["run-dir", "inside-run", "cwd"])
def test_export_never_writes_into_the_run_or_here(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cwd, dest = {
        "run-dir": (finished_run, "."),  # `lamdagent export RUN .` from inside the run
        "inside-run": (tmp_path, str(finished_run / "models" / "copy")),
        "cwd": (empty, "."),  # `.` even when it is empty: exporting would replace the shell's directory
    }[where]
    monkeypatch.chdir(cwd)
    before = snapshot(finished_run)
    code, err = cli(capsys, "export", str(finished_run), dest)
    assert code == 2, err
    assert ("is inside the run directory" in err) if where != "cwd" else ("is the current directory" in err)
    assert snapshot(finished_run) == before and list(empty.iterdir()) == []


# ------------------------------------------------------------------ dataset files
def sft_line(i: int) -> str:
    return json.dumps({"prompt": f"q{i}", "completion": f"a{i}"})


DATA_CASES = [
    pytest.param("sft", None, "missing.jsonl", ["missing.jsonl"], id="data-missing-file"),
    pytest.param(
        "sft", sft_line(1) + "\n{not json\n", "d.jsonl", ["d.jsonl line 2: not valid JSON"], id="data-bad-json"
    ),
    pytest.param(
        "sft", sft_line(1) + '\n{"prompt": "q"}\n', "d.jsonl", ["d.jsonl line 2", "completion"], id="data-sft-no-answer"
    ),
    pytest.param(
        "preference",
        '{"prompt": "p", "chosen": "c"}\n',
        "p.jsonl",
        ["p.jsonl line 1", "format"],
        id="data-pref-no-rejected",
    ),
    pytest.param("sft", "", "empty.jsonl", ["empty.jsonl"], id="data-empty-file"),
    pytest.param("sft", "[1, 2, 3]\n", "d.json", ["d.json"], id="data-json-not-objects"),
    pytest.param("sft", "question,answer_text\nq,a\n", "d.csv", ["d.csv"], id="data-csv-wrong-columns"),
]


def data_config(tmp_path: Path, kind: str, content: str | None, filename: str) -> Path:
    source = tmp_path / filename
    if content is not None:
        source.write_text(content, encoding="utf-8")
    cfg = base_config()
    cfg["datasets"] = [{"name": "mine", "kind": kind, "source": str(source)}]
    cfg["actions"] = ["sft" if kind == "sft" else "dpo", "linear"]
    cfg["params"] = {"sft": cfg["params"]["sft"]} if kind == "sft" else {}
    cfg["grids"] = {"linear": {"weight": [0.5]}}
    return write_yaml(tmp_path / "data.yaml", cfg)


@pytest.mark.parametrize(("kind", "content", "filename", "expected"), DATA_CASES)
def test_bad_dataset_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    content: str | None,
    filename: str,
    expected: list[str],
) -> None:
    code, err = cli(
        capsys, "run", str(data_config(tmp_path, kind, content, filename)), "--run-dir", str(tmp_path / "run")
    )
    assert code == 2, err
    for part in expected:
        assert part in err, (part, err)


@pytest.mark.parametrize(("kind", "content", "filename", "expected"), DATA_CASES[:3])
def test_bad_dataset_file_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    content: str | None,
    filename: str,
    expected: list[str],
) -> None:
    code, _ = cli(
        capsys, "run", str(data_config(tmp_path, kind, content, filename)), "--run-dir", str(tmp_path / "run")
    )
    assert code == 2 and not (tmp_path / "run").exists()


def test_action_parameters_refuse_unknown_keys_and_remote_code() -> None:
    """Every action's parameter model forbids unknown keys; none may declare or accept trust_remote_code."""
    from pydantic import ConfigDict

    from lamdagent.actions import ACTIONS, ActionParams
    from lamdagent.errors import LamdagentError

    for name in ACTIONS.names():
        action = ACTIONS.get(name)
        assert action.Params.model_config.get("extra") == "forbid", name
        with pytest.raises(LamdagentError, match="trust_remote_code"):
            action.parse_params({"trust_remote_code": True})
    with pytest.raises(TypeError, match="must forbid unknown keys"):

        class Loose(ActionParams):  # a plug-in may not loosen the rule
            model_config = ConfigDict(extra="allow")

    with pytest.raises(TypeError, match="trust_remote_code"):

        class Remote(ActionParams):
            trust_remote_code: bool = False
