"""Structured logging: readable lines on a terminal, one JSON object per line otherwise.

Every module logs through `get_logger(__name__)`; values are passed as key/value pairs, never
formatted into the message, and the database URL is always logged in its masked form. As a last
guard, every rendered line is redacted of the secrets known when logging was configured and of those
registered since (`turing_db.redaction`: an actor's API key), exception tracebacks included.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from turing_db.redaction import MASK, known_secrets, registered_secrets, secrets_pattern


def configure_logging(level: str = "INFO", json_lines: bool | None = None) -> None:
    json_lines = not sys.stderr.isatty() if json_lines is None else json_lines
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    configured = known_secrets()  # the environment's, read once; secrets registered later join them

    def render_redacted(logger: Any, method: str, event: Any) -> str:
        line: str = renderer(logger, method, event)
        pattern = secrets_pattern(configured | registered_secrets())
        return pattern.sub(MASK, line) if pattern is not None else line

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            render_redacted,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
