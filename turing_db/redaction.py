"""Redaction: an actor's error message loses every secret it holds before it is stored.

The secrets are the ones this process knows at call time: the database password (TURING_DB_PASSWORD,
PGPASSWORD, the password inside TURING_DATABASE_URL, from the environment or the `.env` file), the
values of variables whose names say they hold one (`is_secret_name()`: KEY, TOKEN, SECRET or PASSWORD
in the name; the rule the shell actor's `config.env` obeys too), the password of any `*_URL` variable,
and the values registered in use (`register_secret()`: an actor's API key); each becomes `***`. Successful outputs are stored as the actor returned them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from urllib.parse import quote

from sqlalchemy.engine import make_url

from turing_db.settings import read_environment

MASK = "***"
DATABASE_SECRETS = ("TURING_DB_PASSWORD", "PGPASSWORD")  # redacted whatever their length
SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
MIN_SECRET_LENGTH = 6  # a shorter value of a *_TOKEN-like variable would mask ordinary words
_RAW_URL_PASSWORD = re.compile(r"^[^:/?#]+://[^:@/?#]*:([^@/?#]*)@")


def redact(text: str) -> str:
    """`text` with every known secret value replaced by `***`."""
    pattern = secrets_pattern(known_secrets())
    return pattern.sub(MASK, text) if pattern is not None else text


_registered: set[str] = set()  # secrets found in use whatever their variable's name (register_secret)


def register_secret(value: str) -> None:
    """Make `value` a known secret for this process (an actor's API key read from a variable whose
    name does not say it holds one): `redact()` and every log line mask it from now on."""
    if len(value) >= MIN_SECRET_LENGTH:  # a dummy key ("EMPTY", "x") would mask ordinary words
        _registered.add(value)


def registered_secrets() -> frozenset[str]:
    return frozenset(_registered)


SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")  # as workflow_check_actors() refuses them in config.env


def is_secret_name(name: str) -> bool:
    """Does an environment variable's name say it holds a secret (OPENAI_API_KEY, GH_TOKEN, …)?"""
    upper = name.upper()
    return (
        upper in DATABASE_SECRETS
        or upper == "TURING_DATABASE_URL"
        or any(word in upper for word in SECRET_WORDS)
    )


def known_secrets(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The secret values in `environ` (default: the process environment over the `.env` file)."""
    env = read_environment() if environ is None else environ
    secrets: set[str] = set()
    for name in DATABASE_SECRETS:
        secrets.update(_forms(env.get(name) or ""))
    raw_url = env.get("TURING_DATABASE_URL") or ""
    if raw_url:
        try:
            secrets.update(_forms(make_url(raw_url).password or ""))
        except Exception:  # an unparsable URL still hides its password below
            pass
        match = _RAW_URL_PASSWORD.match(raw_url)
        if match:
            secrets.add(match.group(1))  # as written, percent-encoding included
    for name, value in env.items():
        if is_secret_name(name) and not name.upper().endswith("_URL") and len(value) >= MIN_SECRET_LENGTH:
            secrets.add(value)  # (a URL's secret is its password, below)
        if name.upper().endswith("_URL") and "@" in value:  # another database's or service's password
            match = _RAW_URL_PASSWORD.match(value)
            if match and len(match.group(1)) >= MIN_SECRET_LENGTH:
                secrets.add(match.group(1))
    if environ is None:  # this process's secrets: its environment, and those registered in use
        secrets.update(_registered)
    secrets.discard("")
    return frozenset(secrets)


def _forms(password: str) -> set[str]:
    """A password as it is, and percent-encoded as it appears in a URL."""
    return {password, quote(password, safe="")} if password else set()


@functools.lru_cache(maxsize=8)
def secrets_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    if not secrets:
        return None
    longest_first = sorted(secrets, key=lambda s: (-len(s), s))  # a secret inside another goes whole
    return re.compile("|".join(re.escape(secret) for secret in longest_first))


def describe_error(error: BaseException, limit: int = 300) -> str:
    """An error's first line for a person: the driver's message when it has one, redacted, cut short."""
    text = redact(str(getattr(error, "orig", None) or error)).strip()
    return (text.splitlines() or [type(error).__name__])[0][:limit]
