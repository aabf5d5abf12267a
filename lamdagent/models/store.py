"""Content-addressed model directories: `RUN/models/<model_id>`, each a full HF model plus its story.

A model is written into a staging directory and renamed into place only when complete, so a process that
dies mid-write never leaves a directory that looks finished. `lamdagent.json` holds the spec, parents and
scores; `README.md` is a Hugging Face model card rendered from it (so a pushed model shows its lineage).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamdagent.errors import LamdagentError
from lamdagent.io import fsync_dir, pid_alive, write_atomic, write_json_atomic
from lamdagent.models.card import CARD_FILE, card_name, render_card
from lamdagent.spec import ActionSpec, ModelRef

META_FILE = "lamdagent.json"
STAGING_PREFIX = ".staging-"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
_STAGING = re.compile(rf"^{re.escape(STAGING_PREFIX)}(?P<id>[^-]+)-(?P<pid>\d+)-[0-9a-f]+$")


def _fsync_tree(path: Path) -> None:
    """Flush every file and directory below `path`, so the rename never publishes unwritten bytes."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


class ModelStore:
    """The model directories of one run, keyed by `ActionSpec.model_id()`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, model_id: str) -> Path:
        return self.root / model_id

    def is_complete(self, model_id: str) -> bool:
        if not model_id or model_id.startswith(".") or "/" in model_id:
            return False  # staging dirs (and anything outside the store) never count
        meta = self.path(model_id) / META_FILE
        try:
            return json.loads(meta.read_text(encoding="utf-8")).get("complete") is True
        except (OSError, ValueError):
            return False

    def staging_dir(self, model_id: str) -> Path:
        """A fresh empty directory beside the final one (same filesystem, so the rename is atomic)."""
        path = self.root / f"{STAGING_PREFIX}{model_id}-{os.getpid()}-{secrets.token_hex(4)}"
        path.mkdir()
        return path

    def commit(
        self,
        model_id: str,
        staging: Path,
        spec: ActionSpec,
        parents: list[ModelRef],
        relation: str,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Add the metadata and card to a written model, then publish it with one atomic rename."""
        if model_id != spec.model_id():
            raise ValueError(f"model id {model_id!r} does not match its spec ({spec.model_id()!r})")
        self._check_model_files(staging)
        final = self.path(model_id)
        if self.is_complete(model_id):  # someone else finished the same spec first
            shutil.rmtree(staging, ignore_errors=True)
            return final
        meta: dict[str, Any] = {
            "model_id": model_id,
            "spec": spec.model_dump(mode="json"),
            "spec_hash": spec.spec_hash(),
            "action": spec.action,
            "relation": relation,
            "parents": [p.id for p in parents],
            "parent_names": [card_name(p) for p in parents],
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scores": None,
            "complete": True,
        }
        clash = set(extra or {}) & set(meta)
        if clash:
            raise ValueError(f"extra metadata may not override {sorted(clash)}")
        meta.update(extra or {})
        (staging / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        (staging / CARD_FILE).write_text(render_card(meta), encoding="utf-8")
        _fsync_tree(staging)
        if final.exists() or final.is_symlink():
            # not ours (every model of ours appears complete, by one rename): never delete what we did not write
            raise LamdagentError(
                f"{final} exists but is not a complete lamdagent model; move it out of {self.root} and resume"
            )
        try:
            staging.rename(final)
        except OSError:
            if not self.is_complete(model_id):
                raise
            shutil.rmtree(staging, ignore_errors=True)  # lost a race to an identical result
        fsync_dir(self.root)
        return final

    @staticmethod
    def _check_model_files(path: Path) -> None:
        missing = []
        if not any(path.glob("*.safetensors")):
            missing.append("*.safetensors")
        if not (path / "config.json").is_file():
            missing.append("config.json")
        if not (path / "tokenizer_config.json").is_file() or not any((path / f).is_file() for f in TOKENIZER_FILES):
            missing.append("tokenizer files")
        if missing:
            raise LamdagentError(f"{path}: the action wrote no {', '.join(missing)}; the model is incomplete")

    def read_meta(self, model_id: str) -> dict[str, Any]:
        meta = self.path(model_id) / META_FILE
        try:
            return json.loads(meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LamdagentError(f"model {model_id!r} is not in the store at {self.root}") from None

    def set_scores(self, model_id: str, validation: dict[str, Any], test: dict[str, Any], score: float) -> None:
        """Record evaluation results in the metadata and the card; each file is replaced atomically."""
        meta = self.read_meta(model_id)
        meta["scores"] = {"validation": dict(validation), "test": dict(test), "score": float(score)}
        final = self.path(model_id)
        write_json_atomic(final / META_FILE, meta, indent=2)
        write_atomic(final / CARD_FILE, render_card(meta))

    def clean_partial(self) -> list[Path]:
        """Remove the staging dirs of dead processes; return them.

        Only directories named by `staging_dir` (prefix, model id, pid, random tag) are ever removed: anything
        else under `models/`, complete or not, may be a user's and stays.
        """
        removed: list[Path] = []
        for entry in sorted(self.root.iterdir()):
            match = _STAGING.match(entry.name)
            if match is None or entry.is_symlink() or not entry.is_dir() or pid_alive(int(match["pid"])):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        fsync_dir(self.root)
        return removed
