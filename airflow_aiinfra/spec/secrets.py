"""Literal secrets in a spec: refused wherever they are written, never echoed back.

A spec is shown in the Airflow UI (DAG docs), by ``aiinfra render`` and logged to MLflow, so credentials must
come from Airflow connections or Kubernetes Secrets. Refused: URLs with credentials (``user:pass@`` or a
secret-looking query parameter), well-known token shapes (cloud access keys, GitHub, GitLab, Slack, Hugging
Face, Stripe and OpenAI tokens, JWTs, private key blocks) in any string, and any literal value under an env
name that says it holds a secret (a whole-word suffix such as ``_TOKEN``, ``_SECRET``, ``_PASSWORD``,
``_API_KEY``; ``TOKENIZERS_PARALLELISM``, ``MAX_TOKENS``, ``*_FILE`` and ``*_PATH`` are not secret names).
Messages say what was found and where, never the value. Cheap: one regular expression per distinct string,
behind a substring pre-check.
"""

from __future__ import annotations

import re

_TOKENS = (
    ("an AWS access key id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"),
    ("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("a Slack webhook URL", r"hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"),
    ("a Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("a Stripe key", r"\b[sr]k_live_[A-Za-z0-9]{16,}"),
    ("an OpenAI key", r"\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}"),
    ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("a private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    ("a URL with a user and password", r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s@:]*:[^/\s@]*@"),
    ("a URL with a token as its user", r"\b[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9_-]{20,}@"),
    ("a URL with a secret in its query",
     r"\b[A-Za-z][A-Za-z0-9+.-]*://\S*[?&](?i:password|passwd|pwd|token|access_token|secret|client_secret|"
     r"api_?key|apikey|sig|signature|x-amz-signature|x-amz-credential|auth)=[^&\s]+"),
)
_PATTERN = re.compile("|".join(f"(?P<t{i}>{p})" for i, (_, p) in enumerate(_TOKENS)))
_HINTS = ("://", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "gh", "github_pat_", "glpat-", "xox", "hooks.",
          "hf_", "_live_", "sk-", "AIza", "eyJ", "PRIVATE KEY")
_SECRET_NAME = re.compile(
    r"(?:^|_)(?:TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|ACCESS_?KEY|SECRET_?KEY|PRIVATE_?KEY|"
    r"CLIENT_SECRET|CREDENTIALS?|AUTH_TOKEN)$",
    re.IGNORECASE,
)
GENERIC_SECRET = "this value holds "  # how secret_problem's messages start
_FIX = "store it in a Kubernetes Secret (stage `secrets:`) or an Airflow connection, and refer to that"


def secret_in(value: str) -> str | None:
    """What kind of secret ``value`` holds (e.g. "a GitHub token"), or None."""
    if not any(h in value for h in _HINTS) and "://" not in value:
        return None
    match = _PATTERN.search(value)
    if match is None:
        return None
    index = int(match.lastgroup[1:]) if match.lastgroup else 0
    return _TOKENS[index][0]


def secret_problem(value: str) -> str | None:
    """The spec error for a string holding a secret, without the secret."""
    kind = secret_in(value)
    return f"{GENERIC_SECRET}{kind}, a literal secret; {_FIX}" if kind else None


def is_secret_name(name: str) -> bool:
    """``WANDB_API_KEY``, ``DB_PASSWORD``, ``TOKEN``: a name whose value is a secret."""
    return bool(_SECRET_NAME.search(name))


def secret_env_problem(name: str, value: str) -> str | None:
    """The spec error for a literal value under a secret-named env variable (templates and empty are fine)."""
    if not value or "{{" in value or not is_secret_name(name):
        return None
    return f"{name} holds a secret, so its value cannot be written in the spec; {_FIX}"
