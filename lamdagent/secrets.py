"""Keep credentials out of everything lamdagent writes: error text, the ledger, the report, worker environments.

A key belongs in an environment variable the config *names* (`api_key_env`); these helpers catch the ways one
still slips through: a base URL with `user:pass@` or `?key=`, an HTTP error that echoes a header, a key pasted
into a config value, or a parent environment full of tokens that a training worker has no use for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# Key-shaped tokens. Each needs a digit so that ordinary words such as "sk-learn-compatible" do not match.
_KEY_TOKENS = (
    r"sk-[A-Za-z0-9_-]{17,}",  # OpenAI and compatible servers
    r"hf_[A-Za-z0-9]{17,}",  # Hugging Face
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"xox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
)
_KEY_RE = re.compile(r"(?<![A-Za-z0-9_-])(?:" + "|".join(_KEY_TOKENS) + r")(?![A-Za-z0-9_-])")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_URL_RE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>`]+")
_USERINFO_RE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/@'\"<>`]+@")
_ASSIGNED_RE = re.compile(
    r"(?i)\b((?:x-)?(?:api[_-]?key|access[_-]?token|auth[_-]?token|token|password|passwd|secret|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
)

# Credential variables a worker may keep: training from a gated hub model needs the Hugging Face token.
WORKER_KEEPS = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})
_SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_SECRET_KEY", "_PASSWORD")


def _has_digit(token: str) -> bool:
    return any(c.isdigit() for c in token)


def looks_like_key(text: str) -> bool:
    """Whether `text` holds something shaped like an API key or a bearer credential."""
    if any(_has_digit(m.group(0)) for m in _KEY_RE.finditer(text)):
        return True
    return bool(re.search(r"(?i)\bbearer\s+\S{8,}", text))


def has_userinfo(text: str) -> bool:
    """Whether `text` holds a URL with `user[:password]@` before its host."""
    return bool(_USERINFO_RE.search(text))


def redact_url(url: str) -> str:
    """The URL without user info, query string or fragment (where keys and signatures travel)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # not parseable as a URL: redact it as text
        return _redact_tokens(url)
    if not parts.scheme or not parts.netloc:
        return _redact_tokens(url.split("?", 1)[0].split("#", 1)[0])
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    if "@" in parts.netloc:
        netloc = f"{MASK}@{netloc}"
    return urlunsplit((parts.scheme, netloc, _redact_tokens(parts.path), "", ""))


def _redact_tokens(text: str) -> str:
    text = _KEY_RE.sub(lambda m: MASK if _has_digit(m.group(0)) else m.group(0), text)
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _ASSIGNED_RE.sub(lambda m: m.group(1) + MASK, text)


def redact_text(text: str) -> str:
    """Any text (an HTTP error, a log line) with URL credentials, query strings and key-shaped tokens masked."""
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    return _redact_tokens(text)


def is_secret_env(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential."""
    upper = name.upper()
    return upper.endswith(_SECRET_ENV_SUFFIXES) or upper in {"API_KEY", "TOKEN", "PASSWORD", "SECRET"}


def scrub_env(env: Mapping[str, str], names: Iterable[str] = (), keep: Iterable[str] = ()) -> dict[str, str]:
    """A copy of `env` for a worker process: without the variables in `names` (the agent's key) and without
    other credential variables, except the Hugging Face token a gated hub model needs and the variables in
    `keep` (the key of an LLM judge, which scores in the worker)."""
    drop = {n for n in names if n}
    kept = {n for n in keep if n}
    return {
        k: v
        for k, v in env.items()
        if k not in drop and (k in kept or k.upper() in WORKER_KEEPS or not is_secret_env(k))
    }
