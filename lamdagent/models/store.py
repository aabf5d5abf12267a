"""Content-addressed model directories: `RUN/models/<model_id>`, each a full HF model plus its story.

A model is written into a staging directory and renamed into place only when complete, so a process that
dies mid-write never leaves a directory that looks finished. `lamdagent.json` holds the spec, parents and
scores; `README.md` is a Hugging Face model card rendered from it (so a pushed model shows its lineage).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from lamdagent.errors import LamdagentError
from lamdagent.models.embedded import EMBEDDED_NAME
from lamdagent.spec import ActionSpec, ModelRef

META_FILE = "lamdagent.json"
CARD_FILE = "README.md"
STAGING_PREFIX = ".staging-"
EMBEDDED_CARD_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the embedded GGUF was converted from
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_STAGING = re.compile(rf"^{re.escape(STAGING_PREFIX)}(?P<id>[^-]+)-(?P<pid>\d+)-[0-9a-f]+$")


def card_name(ref: ModelRef) -> str:
    """The name a model card lists for a parent: its hub id when it has one, else its pool id."""
    if ref.name == EMBEDDED_NAME:
        return EMBEDDED_CARD_NAME
    if ref.name and _HUB_ID.match(ref.name) and not Path(ref.name).expanduser().exists():
        return ref.name
    return ref.id


def _fsync_tree(path: Path) -> None:
    """Flush every file and directory below `path`, so the rename never publishes unwritten bytes."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def render_card(meta: dict[str, Any]) -> str:
    """A Hugging Face model card (YAML front matter + Markdown) from a model's `lamdagent.json`."""
    names: list[str] = meta["parent_names"]
    front = {
        "base_model": names if meta["relation"] == "merge" else (names[0] if len(names) == 1 else names),
        "base_model_relation": meta["relation"],
        "library_name": "transformers",
        "tags": ["lamdagent"],
    }
    spec = meta["spec"]
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {meta['model_id']}",
        "",
        f"Produced by lamdagent with the action `{spec['action']}` ({meta['relation']}) on {meta['created_at']}.",
        "",
        "## Parameters",
        "",
    ]
    params = spec.get("params") or {}
    if params:
        lines += ["| parameter | value |", "|---|---|"]
        lines += [f"| `{k}` | `{json.dumps(v)}` |" for k, v in sorted(params.items())]
    else:
        lines.append("None.")
    lines += ["", "## Lineage", ""]
    by_id = dict(zip(meta["parents"], names, strict=True))
    for slot, ids in spec["inputs"].items():
        shown = [f"`{i}`" + (f" ({by_id[i]})" if by_id.get(i, i) != i else "") for i in _as_list(ids)]
        lines.append(f"- {slot}: {', '.join(shown)}")
    lines += ["", f"Spec hash: `{meta['spec_hash']}`.", "", "## Scores", ""]
    scores = meta.get("scores")
    if not scores:
        lines.append("Not evaluated yet.")
    else:
        lines += [f"Objective: **{scores['score']:.4f}**", "", "| split | metric | value |", "|---|---|---|"]
        for split in ("validation", "test"):
            for metric, value in sorted((scores.get(split) or {}).items()):
                shown = f"{value:.4f}" if isinstance(value, int | float) else json.dumps(value)
                lines.append(f"| {split} | {metric} | {shown} |")
    return "\n".join(lines) + "\n"


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


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
        if final.exists() and not self.is_complete(model_id):
            shutil.rmtree(final)  # a leftover that never completed
        try:
            staging.rename(final)
        except OSError:
            if not self.is_complete(model_id):
                raise
            shutil.rmtree(staging, ignore_errors=True)  # lost a race to an identical result
        _fsync_dir(self.root)
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
        _write_atomic(final / META_FILE, json.dumps(meta, indent=2))
        _write_atomic(final / CARD_FILE, render_card(meta))

    def clean_partial(self) -> list[Path]:
        """Remove staging dirs of dead processes and model dirs that never completed; return them."""
        removed: list[Path] = []
        for entry in sorted(self.root.iterdir()):
            if not entry.is_dir():
                continue
            match = _STAGING.match(entry.name)
            if match:
                if _pid_alive(int(match["pid"])):
                    continue
            elif entry.name.startswith(".") or self.is_complete(entry.name):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        with contextlib.suppress(OSError):
            _fsync_dir(self.root)
        return removed
