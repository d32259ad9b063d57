"""The actor types this version can build, by `actors.actor_type`.

A new type registers its builder in `BUILDERS`; the runner does not change. An actor that cannot be
built (an unknown type, a config its builder refuses) becomes an `UnavailableActor`, so its postings
fail with the reason and go through the workflow's error branches instead of stopping the run.
"""

from __future__ import annotations

from collections.abc import Callable

from turing_db.actors.base import ERROR, Actor, ActorConfigError, ActorSpec, Outcome, Task
from turing_db.actors.ollama import OllamaActor
from turing_db.actors.openai import OpenAIActor
from turing_db.actors.policy import policy_problem
from turing_db.actors.python import PythonActor
from turing_db.actors.shell import ShellActor, kill_all_running

BUILDERS: dict[str, Callable[[ActorSpec], Actor]] = {
    "ollama": OllamaActor,
    "openai": OpenAIActor,
    "python": PythonActor,
    "shell": ShellActor,
}


class UnavailableActor:
    """Stands in for an actor that cannot be built: every task fails with the reason."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def execute(self, task: Task) -> Outcome:
        return Outcome(sentinel=ERROR, error_kind="actor_unavailable", error_message=self.reason)


def build_actor(spec: ActorSpec) -> Actor:
    builder = BUILDERS.get(spec.actor_type)
    if builder is None:
        return UnavailableActor(
            spec.actor_name, f"actor type {spec.actor_type!r} is not available in this version"
        )
    policy = policy_problem(
        spec.config, spec.actor_type
    )  # after the type's own rules, as validate_workflow() lists them
    try:
        actor = builder(spec)
    except ActorConfigError as exc:
        return UnavailableActor(spec.actor_name, f"{exc}; {policy}" if policy else str(exc))
    if policy:
        return UnavailableActor(spec.actor_name, f"actor {spec.actor_name}: {policy}")
    return actor


def abandon_all() -> None:
    """Stop every call in flight that can be stopped (shell commands' process groups): a worker told
    to stop now releases its claims, and what it started must not go on meanwhile."""
    kill_all_running()
