"""Where the database is and how to reach it.

Settings come from the environment, then from a git-ignored `.env` in the project directory (the
environment wins). `TURING_DATABASE_URL`, or the parts `TURING_DB_HOST`/`PORT`/`NAME`/`USER`/`PASSWORD`,
name an external database; with none of them set the embedded local cluster (`make db`) is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url

from turing_db.paths import PROJECT_DIR
from turing_db.provisioning.cluster import EmbeddedCluster

DATABASE_VARIABLES = (
    "TURING_DATABASE_URL",
    "TURING_DB_HOST",
    "TURING_DB_PORT",
    "TURING_DB_NAME",
    "TURING_DB_USER",
    "TURING_DB_PASSWORD",
)
DEFAULT_POOL_SIZE = 10


class ConfigurationError(Exception):
    """The configuration cannot work; the message says which variable to set."""


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Resolved database settings; `url` carries the password, its repr never does."""

    url: URL
    embedded: bool
    pool_size: int = DEFAULT_POOL_SIZE
    password: Secret | None = field(default=None, repr=False)
    limits: RunLimits = field(default_factory=lambda: RunLimits())

    @property
    def safe_url(self) -> str:
        """The URL with the password masked: the only form that may be printed or logged."""
        return self.url.render_as_string(hide_password=True)

    def describe(self) -> str:
        """A short, password-free name of the database for people."""
        if self.embedded:
            return f"the embedded cluster (database {self.url.database}, socket {self.url.query['host']})"
        return self.safe_url

    def __repr__(self) -> str:
        return f"Settings(url={self.safe_url!r}, embedded={self.embedded}, pool_size={self.pool_size})"


def read_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """The process environment over the values of a `.env` file (the environment wins)."""
    env_file = env_file if env_file is not None else PROJECT_DIR / ".env"
    values: dict[str, str] = {}
    if env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Resolve the database settings; raise ConfigurationError with the fix when they cannot work."""
    env = read_environment(environ, env_file)
    pool_size = _positive_int(env, "TURING_DB_POOL_SIZE", DEFAULT_POOL_SIZE)
    if env.get("TURING_DATABASE_URL"):
        url = _parse_url(env["TURING_DATABASE_URL"])
        if env.get("TURING_DB_PASSWORD") and not url.password:
            url = url.set(password=env["TURING_DB_PASSWORD"])
        return replace(_external(url, pool_size), limits=load_run_limits(environ, env_file))
    if any(env.get(name) for name in DATABASE_VARIABLES[1:]):
        if not env.get("TURING_DB_HOST"):
            raise ConfigurationError(
                "TURING_DB_HOST is not set but other TURING_DB_* variables are: set TURING_DB_HOST "
                "(or TURING_DATABASE_URL), or unset them all to use the embedded cluster"
            )
        url = URL.create(
            "postgresql+psycopg2",
            username=env.get("TURING_DB_USER") or "turing",
            password=env.get("TURING_DB_PASSWORD") or None,
            host=env["TURING_DB_HOST"],
            port=_positive_int(env, "TURING_DB_PORT", 5432),
            database=env.get("TURING_DB_NAME") or "turing",
        )
        return replace(_external(url, pool_size), limits=load_run_limits(environ, env_file))
    return Settings(url=EmbeddedCluster.default().url(), embedded=True, pool_size=pool_size,
                    limits=load_run_limits(environ, env_file))  # fmt: skip


@dataclass(frozen=True)
class RunLimits:
    """How a run behaves when things go wrong, from TURING_* variables (defaults in brackets):
    TURING_MAX_OUTPUT_BYTES [1 MiB] an output larger than this fails its posting (output_too_large);
    TURING_DB_OUTAGE_SECONDS [600] how long workers wait out an unreachable database;
    TURING_DB_STATEMENT_TIMEOUT [120] seconds a statement may run before the server cancels it;
    TURING_DB_IDLE_IN_TRANSACTION_TIMEOUT [60] seconds a session may idle inside a transaction
    (a worker whose network dropped never keeps a chunk's row locks);
    TURING_FLUSH_MS [500] and TURING_FLUSH_BATCH [1000]: finished results are stored when the oldest
    has waited this long or this many are waiting (what a kill -9 can cost beyond the calls in flight;
    1000 is the largest chunk, so by default a chunk of quick calls is stored in one completion)."""

    max_output_bytes: int = 1024 * 1024
    outage_seconds: int = 600
    statement_timeout_seconds: int = 120
    idle_in_transaction_seconds: int = 60
    flush_batch: int = 1000
    flush_ms: int = 500


def load_run_limits(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> RunLimits:
    env = read_environment(environ, env_file)
    defaults = RunLimits()
    return RunLimits(
        max_output_bytes=_positive_int(env, "TURING_MAX_OUTPUT_BYTES", defaults.max_output_bytes),
        outage_seconds=_positive_int(env, "TURING_DB_OUTAGE_SECONDS", defaults.outage_seconds),
        statement_timeout_seconds=_positive_int(
            env, "TURING_DB_STATEMENT_TIMEOUT", defaults.statement_timeout_seconds
        ),
        idle_in_transaction_seconds=_positive_int(
            env, "TURING_DB_IDLE_IN_TRANSACTION_TIMEOUT", defaults.idle_in_transaction_seconds
        ),
        flush_batch=_positive_int(env, "TURING_FLUSH_BATCH", defaults.flush_batch),
        flush_ms=_positive_int(env, "TURING_FLUSH_MS", defaults.flush_ms),
    )


def _external(url: URL, pool_size: int) -> Settings:
    host = url.host or url.query.get("host")
    is_socket = isinstance(host, str) and host.startswith("/")
    if not url.password and not is_socket and host not in ("localhost", "127.0.0.1", "::1"):
        raise ConfigurationError(
            f"the external database at {host} has no password: set TURING_DB_PASSWORD "
            "(or put it in TURING_DATABASE_URL, or in the git-ignored .env file)"
        )
    password = Secret(url.password) if url.password else None
    return Settings(url=url, embedded=False, pool_size=pool_size, password=password)


def _parse_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except Exception:  # the raw URL may hold a password: never echo it
        raise ConfigurationError(
            "TURING_DATABASE_URL is not a valid URL: expected postgresql://user:password@host:port/dbname"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"TURING_DATABASE_URL must name a PostgreSQL database, not {url.get_backend_name()!r}"
        )
    return url.set(drivername="postgresql+psycopg2")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def health_endpoint(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> tuple[str, int | None]:
    """Where `turing run` serves /health by default: TURING_HEALTH_HOST [127.0.0.1] and
    TURING_HEALTH_PORT [none: no endpoint]."""
    env = read_environment(environ, env_file)
    port = env.get("TURING_HEALTH_PORT")
    return env.get("TURING_HEALTH_HOST") or "127.0.0.1", (
        _positive_int(env, "TURING_HEALTH_PORT", 1) if port else None
    )


DEFAULT_IMPORT_MAX_BYTES = 512 * 1024 * 1024


def import_max_bytes(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> int:
    """The largest file `turing postings import` reads: TURING_IMPORT_MAX_BYTES [512 MiB]."""
    return _positive_int(
        read_environment(environ, env_file), "TURING_IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX_BYTES
    )


def positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A TURING_* setting in seconds: a positive finite number, or `default` when unset."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value
