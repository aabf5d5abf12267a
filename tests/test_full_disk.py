"""A run on a disk that fills up: one line naming the file (exit 2), then, with space freed, a clean restart.

The disk is a small tmpfs mounted for the test, which needs root and a kernel that allows it; elsewhere the
test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers import tiny_config

from lamdagent.cli import main as cli_main
from lamdagent.ledger import Ledger


def _mount(where: Path, size: str, remount: bool = False) -> subprocess.CompletedProcess[str]:
    options = f"remount,size={size}" if remount else f"size={size}"
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs: room for the run's marker and ledger, not for its datasets."""
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8); run as root to test a full disk")
    where = tmp_path / "disk"
    where.mkdir()
    mounted = _mount(where, "512k")
    if mounted.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield where
    finally:
        # lazily, should a file still be open: the mount must never outlive the test
        if subprocess.run(["umount", str(where)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def test_a_full_disk_is_one_line_naming_the_file_and_the_run_starts_again(tiny_model_dir, small_disk, tmp_path, capsys):
    cfg = tiny_config(tiny_model_dir, budget={"iterations": 1})
    # about 800 KB of JSON Lines: the dataset cannot be written to the 512 KiB disk
    cfg["datasets"] = [{"name": "tool_sft", "kind": "sft", "source": "builtin:tool_use", "size": 600}]
    cfg["actions"] = ["sft"]
    cfg["grids"] = {"sft": {"learning_rate": [1e-4]}}
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run = small_disk / "run"
    command = ["run", str(config), "--run-dir", str(run)]

    assert cli_main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "no space left" in err and f"{run}/data/tool_sft.jsonl" in err, err
    assert not list((run / "data").iterdir())  # no half-written dataset, not even its temporary file

    assert _mount(small_disk, "256m", remount=True).returncode == 0  # space freed
    code = cli_main([*command, "--resume"])
    err = capsys.readouterr().err.strip()
    if code != 0:
        # the start failed before the run was recorded: --resume is refused in one line, the same command runs
        assert code == 2 and len(err.splitlines()) == 1 and "holds no started run" in err, err
        assert cli_main(command) == 0
    with Ledger(run) as ledger:
        assert [t.state for t in ledger.trials()] == ["finished"]
        assert ledger.get_meta("datasets")["tool_sft"]["rows"] == 600
