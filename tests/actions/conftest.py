"""Fixtures of the action tests: tiny SFT and preference datasets written into the test's temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from action_helpers import pref_rows, sft_rows, write_jsonl

from lamdagent.spec import DatasetRef


@pytest.fixture
def sft_data(tmp_path: Path) -> DatasetRef:
    path = write_jsonl(tmp_path / "sft.jsonl", sft_rows(16))
    return DatasetRef(id="d-sft", kind="sft", path=str(path), fingerprint="fp-sft", rows=16)


@pytest.fixture
def pref_data(tmp_path: Path) -> DatasetRef:
    path = write_jsonl(tmp_path / "pref.jsonl", pref_rows(16))
    return DatasetRef(id="d-pref", kind="preference", path=str(path), fingerprint="fp-pref", rows=16)
