"""Actors execute one conversation for one posting: prompt in, output (or an error sentinel) out.

`base` holds what they share (`Task`, `Outcome`, `ActorSpec`, the sentinels), `registry` the types
this version builds; each type is a module of its own (`python`, `shell`).
"""

from turing_db.actors.base import (
    CIRCUIT_OPEN,
    ERROR,
    FAILED,
    LOOP_LIMIT,
    SENTINELS,
    TIMEOUT,
    Actor,
    ActorConfigError,
    ActorSpec,
    Outcome,
    Task,
)
from turing_db.actors.registry import BUILDERS, UnavailableActor, build_actor

__all__ = [
    "BUILDERS",
    "CIRCUIT_OPEN",
    "ERROR",
    "FAILED",
    "LOOP_LIMIT",
    "SENTINELS",
    "TIMEOUT",
    "Actor",
    "ActorConfigError",
    "ActorSpec",
    "Outcome",
    "Task",
    "UnavailableActor",
    "build_actor",
]
