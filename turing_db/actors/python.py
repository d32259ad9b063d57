"""The `python` actor: calls `package.module:function(prompt, context)` and expects text back."""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable
from typing import Any

from turing_db.actors.base import (
    ERROR,
    FAILED,
    ActorConfigError,
    ActorSpec,
    Outcome,
    Task,
    elapsed_ms,
    failure,
)

CALLABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
CALLABLE_RULE = 'config.callable must be "package.module:function"'  # as workflow_check_actors() says


class PythonActor:
    """Calls the configured function in the calling thread.

    The deadline is kept by the caller (turing_db.execution): Python cannot stop a running function,
    so a callable that overruns is reported as [TIMEOUT] there and finishes in the background.
    """

    def __init__(self, spec: ActorSpec):
        self.name = spec.actor_name
        target = spec.config.get("callable")
        if not isinstance(target, str) or not CALLABLE.fullmatch(target):
            raise ActorConfigError(f"actor {self.name}: {CALLABLE_RULE}")
        module_name, _, function_name = target.partition(":")
        try:
            self.function: Callable[..., Any] = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as exc:
            raise ActorConfigError(f"actor {self.name}: cannot import callable {target!r}: {exc}") from exc

    def execute(self, task: Task) -> Outcome:
        started = time.perf_counter()
        try:
            result = self.function(task.prompt, task.context)
        except Exception as exc:  # an actor's failure is an outcome, never a crash of the runner
            return failure(ERROR, type(exc).__name__, str(exc) or type(exc).__name__, started)
        if not isinstance(result, str):
            return failure(
                FAILED, "not_text", f"{self.name} returned {type(result).__name__}, not text", started
            )
        return Outcome(output=result, latency_ms=elapsed_ms(started))
